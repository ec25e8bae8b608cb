//! What kind of personal data a text value looks like: an e-mail address,
//! an IBAN (mod-97 checked), a payment card number (Luhn checked), an IP
//! address, or a phone number. Hand-written rather than regular
//! expressions (no regex engine in the tree, and each check is one pass
//! over the bytes without allocating).

/// The kinds, in the order they are tried (the strictest first).
pub const KINDS: &[&str] = &["email", "iban", "card", "ip", "phone"];

/// The kind `value` looks like, if any.
pub fn kind(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.is_empty() || v.len() > 254 {
        return None;
    }
    if is_email(v) {
        Some("email")
    } else if is_iban(v) {
        Some("iban")
    } else if is_card(v) {
        Some("card")
    } else if is_ip(v) {
        Some("ip")
    } else if is_phone(v) {
        Some("phone")
    } else {
        None
    }
}

/// `local@domain.tld`: one `@`, a local part of letters, digits and
/// `.!#$%&'*+/=?^_`{|}~-`, a domain of dot-separated labels of letters,
/// digits and hyphens (not at a label's ends), a top-level label of at
/// least two letters.
pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || local.starts_with('.')
        || local.ends_with('.')
        || !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-!#$&'*/=?^`{|}~".contains(&b))
    {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld = labels[labels.len() - 1];
    labels.iter().all(|l| label_ok(l))
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

/// An IBAN: country letters, two check digits, 11 to 30 letters or
/// digits (spaces allowed), whose mod-97 check (ISO 13616) is 1.
pub fn is_iban(v: &str) -> bool {
    let compact = || v.bytes().filter(|b| *b != b' ');
    let len = compact().count();
    if !(15..=34).contains(&len) || !compact().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let head: Vec<u8> = compact().take(4).collect();
    if !(head[0].is_ascii_alphabetic()
        && head[1].is_ascii_alphabetic()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return false;
    }
    // The first four characters move to the end; letters count as 10-35.
    let mut remainder: u32 = 0;
    for b in compact().skip(4).chain(head.iter().copied()) {
        let b = b.to_ascii_uppercase();
        if b.is_ascii_digit() {
            remainder = (remainder * 10 + u32::from(b - b'0')) % 97;
        } else {
            let n = u32::from(b - b'A') + 10;
            remainder = (remainder * 100 + n) % 97;
        }
    }
    remainder == 1
}

/// A payment card number: 13 to 19 digits (spaces or hyphens between
/// groups allowed), starting 2 to 6 (the major networks), passing the Luhn
/// check.
pub fn is_card(v: &str) -> bool {
    let mut digits = 0;
    let mut sum = 0;
    let mut first = 0u8;
    for b in v.bytes().rev() {
        match b {
            b'0'..=b'9' => {
                let mut d = u32::from(b - b'0');
                if digits % 2 == 1 {
                    d *= 2;
                    if d > 9 {
                        d -= 9;
                    }
                }
                sum += d;
                digits += 1;
                first = b;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    (13..=19).contains(&digits) && (b'2'..=b'6').contains(&first) && sum % 10 == 0
}

/// An IPv4 or IPv6 address.
pub fn is_ip(v: &str) -> bool {
    v.parse::<std::net::IpAddr>().is_ok()
}

/// A phone number: digits with `+`, spaces, hyphens, dots or parentheses,
/// 9 to 15 digits (E.164 allows at most 15; fewer than 9 is more often
/// a date or a code), and written as a phone number is: with
/// a leading `+` or `0`, or with separators. A bare run of digits not
/// starting with 0 is taken for an identifier, not a phone number.
pub fn is_phone(v: &str) -> bool {
    let mut digits = 0;
    let mut separators = 0;
    for (i, b) in v.bytes().enumerate() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'+' if i == 0 => {}
            b' ' | b'-' | b'.' | b'(' | b')' => separators += 1,
            _ => return false,
        }
    }
    (9..=15).contains(&digits) && (v.starts_with('+') || v.starts_with('0') || separators > 0)
}

/// Whether a column's name says it holds dates of birth.
pub fn names_birth_date(column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    c.contains("birth")
        || c == "dob"
        || c.starts_with("dob_")
        || c.ends_with("_dob")
        || c.contains("born")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for yes in [
            "ann@example.org",
            "a.b+c@mail.co.uk",
            "x_y@sub-domain.example.com",
        ] {
            assert_eq!(kind(yes), Some("email"), "{yes}");
        }
        for no in [
            "ann@",
            "@example.org",
            "ann@example",
            "ann@@x.org",
            "ann@x.c0m",
            "a@-x.org",
            ".a@x.org",
        ] {
            assert!(!is_email(no), "{no}");
        }
    }

    #[test]
    fn ibans_pass_mod_97() {
        // Published examples (ECBS): valid.
        for yes in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "FR1420041010050500013M02606",
        ] {
            assert_eq!(kind(yes), Some("iban"), "{yes}");
        }
        // One digit changed: the check fails.
        assert!(!is_iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!is_iban("DE8937040044053201300"));
    }

    #[test]
    fn cards_pass_luhn() {
        for yes in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "340000000000009",
            "6011000000000004",
        ] {
            assert_eq!(kind(yes), Some("card"), "{yes}");
        }
        assert!(!is_card("4111 1111 1111 1112"), "Luhn fails");
        assert!(!is_card("1111111111111117"), "no network starts with 1");
        assert!(!is_card("4111"), "too short");
    }

    #[test]
    fn ips_and_phones() {
        assert_eq!(kind("192.168.0.17"), Some("ip"));
        assert_eq!(kind("2001:db8::1"), Some("ip"));
        assert_eq!(kind("999.1.1.1"), None);
        for yes in [
            "+44 20 7946 0958",
            "(555) 123-4567",
            "030 1234567",
            "+14155550123",
        ] {
            assert_eq!(kind(yes), Some("phone"), "{yes}");
        }
        // Identifiers, amounts and dates are not phone numbers.
        for no in ["1234567890", "42", "3.14159", "2024-01-05", "12-34"] {
            assert_eq!(kind(no), None, "{no}");
        }
    }

    #[test]
    fn birth_date_names() {
        for yes in ["birth_date", "date_of_birth", "DOB", "dob_utc", "born_on"] {
            assert!(names_birth_date(yes), "{yes}");
        }
        for no in ["signup_date", "doberman", "updated_at"] {
            assert!(!names_birth_date(no), "{no}");
        }
    }
}
