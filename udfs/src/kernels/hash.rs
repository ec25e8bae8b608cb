//! FNV-1a (64-bit): the one stable hash Quarry stores results of.
//!
//! `encode = 'hash:N'` puts a level in bucket `fnv1a(level) mod N`, and
//! `ml_feature_hash` and `ml_split` hash keys the same way; a model or a split
//! made by one release must land in the same buckets in every later one, so
//! the function is fixed here rather than taken from a crate whose output may
//! change (`std`'s `DefaultHasher` is explicitly unstable). The same function
//! serves as a fast [`Hasher`](std::hash::Hasher) for the level tables of
//! scoring, whose keys are the model's own levels (no hash flooding concern).
//!
//! Reference: <http://www.isthe.com/chongo/tech/comp/fnv/> (FNV-1a, 64-bit).

use std::collections::HashMap;

/// The FNV-1a 64-bit offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `text`'s UTF-8 bytes.
pub fn fnv1a(text: &str) -> u64 {
    fnv1a_extend(FNV_OFFSET, text.as_bytes())
}

/// Continues an FNV-1a hash `h` over `bytes`.
#[inline]
pub fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a as a `Hasher`: consecutive writes continue one hash.
#[derive(Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(FNV_OFFSET)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a_extend(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed with FNV-1a.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    #[test]
    fn known_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_hasher_continues_one_hash() {
        let mut h = Fnv::default();
        h.write(b"foo");
        h.write(b"bar");
        assert_eq!(h.finish(), fnv1a("foobar"));
    }
}
