//! `real` and `double precision` as text, the way PostgreSQL writes them
//! (`float4out`/`float8out`).
//!
//! At extra_float_digits of 1 or more (the default):
//! The digits are the shortest that read back as the same value (Ryu, as
//! PostgreSQL's own `f2s.c`/`d2s.c`); they are laid out in fixed notation
//! when the decimal exponent is in [-4, 6) for `real` and [-4, 15) for
//! `double precision`, else as `d.ddde+XX` with at least two exponent
//! digits; and `NaN`, `Infinity`, `-Infinity`, `0`, `-0`. Clients depend on
//! this spelling: Java's `Double.parseDouble` (JDBC) reads `Infinity`, not
//! `inf`.
//!
//! One difference remains, in the digits rather than the layout: when the
//! shortest decimal lies exactly halfway between two floats (`1e+23`,
//! which reads back as the nearer float only by rounding half to even),
//! PostgreSQL's Ryu does not accept it and writes a longer one
//! (`9.999999999999999e+22`). Both read back as the same value; a
//! handful of the fixture's 6,000 values are such ties.
//!
//! At extra_float_digits of 0 or less PostgreSQL rounds instead, to
//! `DBL_DIG` (15) or `FLT_DIG` (6) plus extra_float_digits significant
//! digits (at least 1), and writes them as C's `%.*g`: the same layout with
//! the precision in place of 15 or 6. The digits come from Rust's exact
//! `{:.*e}`, which rounds the value's exact decimal expansion half to even
//! as glibc's `printf` does.
//!
//! Written by hand: the `ryu` crate computes the digits but lays them out its
//! own way (`1.0`, `1e16`, `1.5e-7` where PostgreSQL writes `1`, `1e+16`,
//! `1.5e-07`), pgwire writes that layout, and Rust has no `%g`.

use super::short_text::ShortText;

/// `v` as PostgreSQL writes a `double precision`.
pub fn f64_text(v: f64) -> ShortText {
    if !v.is_finite() || v == 0.0 {
        return special(v.is_nan(), v.is_sign_negative(), v == 0.0);
    }
    layout(ryu::Buffer::new().format_finite(v).as_bytes(), 15)
}

/// `v` as PostgreSQL writes a `real`.
pub fn f32_text(v: f32) -> ShortText {
    if !v.is_finite() || v == 0.0 {
        return special(v.is_nan(), v.is_sign_negative(), v == 0.0);
    }
    layout(ryu::Buffer::new().format_finite(v).as_bytes(), 6)
}

/// `v` as PostgreSQL writes a `double precision` at `extra_float_digits`
/// (-15 to 3).
pub fn f64_text_at(v: f64, extra_float_digits: i8) -> ShortText {
    if extra_float_digits >= 1 {
        return f64_text(v);
    }
    rounded(v, 15 + i32::from(extra_float_digits))
}

/// `v` as PostgreSQL writes a `real` at `extra_float_digits` (-15 to 3).
pub fn f32_text_at(v: f32, extra_float_digits: i8) -> ShortText {
    if extra_float_digits >= 1 {
        return f32_text(v);
    }
    // Exact: every `real` is a `double precision`, and PostgreSQL widens it too.
    rounded(f64::from(v), 6 + i32::from(extra_float_digits))
}

/// C's `%.*g` of `v` with `precision` significant digits (at least 1).
fn rounded(v: f64, precision: i32) -> ShortText {
    if !v.is_finite() || v == 0.0 {
        return special(v.is_nan(), v.is_sign_negative(), v == 0.0);
    }
    let precision = precision.max(1);
    let mut digits = ShortText::new();
    // `d.ddde-X` with `precision` digits, correctly rounded; at most 22 bytes.
    let _ = std::fmt::Write::write_fmt(
        &mut digits,
        format_args!("{:.*e}", (precision - 1) as usize, v),
    );
    layout(digits.as_bytes(), precision)
}

fn special(nan: bool, negative: bool, zero: bool) -> ShortText {
    let text: &[u8] = match (nan, negative, zero) {
        (true, _, _) => b"NaN",
        (_, false, true) => b"0",
        (_, true, true) => b"-0",
        (_, false, false) => b"Infinity",
        (_, true, false) => b"-Infinity",
    };
    let mut out = ShortText::new();
    out.push_all(text);
    out
}

/// Re-lays the text of a finite, non-zero value (Ryu's shortest: `-123.456`,
/// `0.00123`, `1.5e-7`, `1e16`, `100.0`; or Rust's `{:.*e}`: `1.50e-7`) as
/// PostgreSQL does, fixed notation for decimal exponents in [-4,
/// `fixed_below`), trailing zeros of the digits dropped.
fn layout(shortest: &[u8], fixed_below: i32) -> ShortText {
    let mut out = ShortText::new();
    if laid_out_alike(shortest, fixed_below) {
        out.push_all(shortest);
        return out;
    }
    let (negative, rest) = match shortest.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, shortest),
    };
    let split = rest.iter().position(|&b| b == b'e');
    let (mantissa, exponent) = match split {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    // The significant digits, and the decimal exponent of the first one.
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut point: i32 = 0;
    let mut before_point = true;
    for &b in mantissa {
        match b {
            b'.' => before_point = false,
            // A leading zero: after the point it moves the first digit right.
            b'0' if n == 0 => point -= i32::from(!before_point),
            _ => {
                if let Some(slot) = digits.get_mut(n) {
                    *slot = b;
                    n += 1;
                }
                point += i32::from(before_point);
            }
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digits[..n];
    let exp = point - 1 + parse_exponent(exponent);

    if negative {
        out.push(b'-');
    }
    if (-4..fixed_below).contains(&exp) {
        if exp >= 0 {
            let whole = exp as usize + 1;
            for i in 0..whole {
                out.push(digits.get(i).copied().unwrap_or(b'0'));
            }
            if n > whole {
                out.push(b'.');
                out.push_all(&digits[whole..]);
            }
        } else {
            out.push_all(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.push_all(digits);
        }
    } else {
        out.push(digits.first().copied().unwrap_or(b'0'));
        if n > 1 {
            out.push(b'.');
            out.push_all(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let magnitude = exp.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        out.push_all(itoa::Buffer::new().format(magnitude).as_bytes());
    }
    out
}

/// Whether Ryu already wrote `shortest` as PostgreSQL would: digits with a
/// fraction (not `100.0`, not `1e16`) whose first digit is at a decimal
/// exponent in [-4, `fixed_below`). Most values are; re-laying them out
/// cost a 1M-row fetch of two float columns a third more server CPU.
fn laid_out_alike(shortest: &[u8], fixed_below: i32) -> bool {
    let unsigned = shortest.strip_prefix(b"-").unwrap_or(shortest);
    if unsigned.contains(&b'e') || unsigned.ends_with(b".0") {
        return false;
    }
    let Some(point) = unsigned.iter().position(|&b| b == b'.') else {
        return false;
    };
    match unsigned.strip_prefix(b"0.") {
        // 0.000123 is exponent -4; one more zero and PostgreSQL writes 1.23e-05.
        Some(fraction) => fraction.iter().take_while(|&&b| b == b'0').count() <= 3,
        None => i32::try_from(point).is_ok_and(|p| p <= fixed_below),
    }
}

/// Ryu's exponent digits (`16`, `-7`); empty is 0.
fn parse_exponent(text: &[u8]) -> i32 {
    let (sign, digits) = match text.split_first() {
        Some((b'-', rest)) => (-1, rest),
        _ => (1, text),
    };
    sign * digits
        .iter()
        .fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text64(v: f64) -> String {
        String::from_utf8(f64_text(v).as_bytes().to_vec()).expect("ascii")
    }

    fn text32(v: f32) -> String {
        String::from_utf8(f32_text(v).as_bytes().to_vec()).expect("ascii")
    }

    #[test]
    fn the_shapes_postgresql_writes() {
        for (v, want) in [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (100.0, "100"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e14, "100000000000000"),
            (1e15, "1e+15"),
            (1.2345e16, "1.2345e+16"),
            (1e100, "1e+100"),
            (-1e-100, "-1e-100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(text64(v), want, "{v:e}");
        }
        for (v, want) in [
            (1.0f32, "1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (0.1, "0.1"),
            (f32::MIN_POSITIVE, "1.1754944e-38"),
            (f32::MAX, "3.4028235e+38"),
            (-0.0, "-0"),
            (f32::INFINITY, "Infinity"),
        ] {
            assert_eq!(text32(v), want, "{v:e}");
        }
    }

    /// Every value in the fixture, written by PostgreSQL 15
    /// (`scripts/fixtures/float_text.py`).
    #[test]
    fn matches_postgresql() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/float_text.json"))
                .expect("fixture");
        let cases = |key: &str| fixture[key].as_array().expect("cases").clone();
        let float8 = cases("float8");
        let float4 = cases("float4");
        assert!(float8.len() > 1000 && float4.len() > 1000);
        let mut ties = 0;
        for case in float8 {
            let bits = u64::from_str_radix(case[0].as_str().expect("bits"), 16).expect("hex");
            let theirs = case[1].as_str().expect("text");
            let same = |t: &str| t.parse::<f64>().is_ok_and(|r| r.to_bits() == bits);
            ties += usize::from(differs(&text64(f64::from_bits(bits)), theirs, same));
        }
        for case in float4 {
            let bits = u32::from_str_radix(case[0].as_str().expect("bits"), 16).expect("hex");
            let theirs = case[1].as_str().expect("text");
            let same = |t: &str| t.parse::<f32>().is_ok_and(|r| r.to_bits() == bits);
            ties += usize::from(differs(&text32(f32::from_bits(bits)), theirs, same));
        }
        assert!(ties <= 6, "{ties} values written differently");
    }

    /// Every value in the fixture at extra_float_digits 0, -3, -9 and -15,
    /// where PostgreSQL rounds (`%.*g`): no ties there, every byte the same.
    #[test]
    fn rounded_matches_postgresql() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/float_text.json"))
                .expect("fixture");
        let mut checked = 0;
        for (key, wide) in [("float8_rounded", true), ("float4_rounded", false)] {
            let settings = fixture[key].as_object().expect("settings");
            assert_eq!(settings.len(), 4, "{key}");
            for (digits, cases) in settings {
                let digits: i8 = digits.parse().expect("digits");
                for case in cases.as_array().expect("cases") {
                    let bits =
                        u64::from_str_radix(case[0].as_str().expect("bits"), 16).expect("hex");
                    let theirs = case[1].as_str().expect("text");
                    let ours = if wide {
                        f64_text_at(f64::from_bits(bits), digits)
                    } else {
                        f32_text_at(f32::from_bits(bits as u32), digits)
                    };
                    assert_eq!(
                        std::str::from_utf8(ours.as_bytes()).expect("ascii"),
                        theirs,
                        "{key} {bits:x} at extra_float_digits {digits}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 7000, "{checked}");
    }

    #[test]
    fn rounded_shapes() {
        let at = |v: f64, d: i8| {
            String::from_utf8(f64_text_at(v, d).as_bytes().to_vec()).expect("ascii")
        };
        assert_eq!(at(0.1 + 0.2, 0), "0.3");
        assert_eq!(at(0.1 + 0.2, 1), "0.30000000000000004");
        assert_eq!(at(1e16, 0), "1e+16");
        assert_eq!(at(123_456_789_012_345_680.0, 0), "1.23456789012346e+17");
        assert_eq!(at(1.5e-7, 0), "1.5e-07");
        assert_eq!(at(2.5, -15), "2");
        assert_eq!(at(99.5, -14), "1e+02");
        assert_eq!(at(f64::NEG_INFINITY, -3), "-Infinity");
        assert_eq!(at(-0.0, 0), "-0");
        let real = |v: f32, d: i8| {
            String::from_utf8(f32_text_at(v, d).as_bytes().to_vec()).expect("ascii")
        };
        assert_eq!(real(0.1, 0), "0.1");
        assert_eq!(real(1_234_567.0, 0), "1.23457e+06");
        assert_eq!(real(f32::NAN, -15), "NaN");
    }

    /// Whether `ours` differs from PostgreSQL's `theirs`, which it may only
    /// at a tie (see the module doc): both the same value, PostgreSQL's
    /// spelling the longer, the same notation.
    fn differs(ours: &str, theirs: &str, same_value: impl Fn(&str) -> bool) -> bool {
        if ours == theirs {
            return false;
        }
        assert!(same_value(ours) && same_value(theirs), "{ours} vs {theirs}");
        assert!(ours.len() < theirs.len(), "{ours} vs {theirs}");
        assert_eq!(
            ours.contains('e'),
            theirs.contains('e'),
            "{ours} vs {theirs}"
        );
        true
    }
}
