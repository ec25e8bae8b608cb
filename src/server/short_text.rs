//! One value's text built on the stack (a float, a timestamp), so the row
//! writers allocate nothing per value.

/// Up to 40 bytes of text: the longest value written this way is a
/// `timestamptz` with a seconds offset (35 bytes); a float takes at most 24.
pub struct ShortText {
    bytes: [u8; 40],
    len: usize,
}

impl ShortText {
    pub fn new() -> Self {
        ShortText {
            bytes: [0; 40],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends `b`; past the capacity it is dropped (no caller gets there).
    pub fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// Appends `bytes`, as much of them as fits.
    pub fn push_all(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(self.bytes.len());
        self.bytes[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }

    /// `value` in exactly `width` (at most 6) decimal digits, zero-padded.
    pub fn push_digits(&mut self, mut value: u32, width: usize) {
        let mut digits = [b'0'; 6];
        let width = width.min(digits.len());
        for slot in digits[..width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.push_all(&digits[..width]);
    }
}

impl Default for ShortText {
    fn default() -> Self {
        Self::new()
    }
}

/// `write!`/`{:.*e}` into a `ShortText` without allocating.
impl std::fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_all(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_and_stops_at_capacity() {
        let mut t = ShortText::new();
        t.push(b'-');
        t.push_digits(7, 2);
        t.push_all(b".5");
        t.push_digits(123_456, 6);
        assert_eq!(t.as_bytes(), b"-07.5123456");
        t.push_all(&[b'x'; 64]);
        assert_eq!(t.as_bytes().len(), 40);
    }
}
