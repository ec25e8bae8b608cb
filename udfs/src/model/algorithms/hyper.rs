//! Hyperparameters: each algorithm lists its own as [`Hyper`] values, and
//! that one list is what `CREATE MODEL` accepts for it, how a value is
//! checked, what it defaults to, and what the option table of the docs says.
//!
//! | kind           | accepts                          | error (22023)                          |
//! |----------------|----------------------------------|----------------------------------------|
//! | `Count`        | a whole number in `min..=max`    | `option K must be a whole number, got 'V'` / `must be at least MIN, got V` / `must be at most MAX, got V` |
//! | `Unlimited`    | the same; default: no limit      | the same                               |
//! | `NonNegative`  | a finite number ≥ 0              | `option K must be a number, got 'V'` / `must be at least 0, got V` |
//! | `UnitInterval` | a finite number in (0, 1]        | `option K must be in (0, 1], got V`    |
//! | `Text`         | what the algorithm parses itself | the algorithm's own                    |
//!
//! Every numeric hyperparameter may be a comma-separated list instead, which
//! makes it part of a search (`model::options`).
//!
//! Every count has a maximum ([`COUNT_MAX`] unless the algorithm sets a
//! smaller one with [`Hyper::at_most`]): a count sizes work and memory, and
//! `rounds = 1e12` must be a clear 22023, not an allocation that aborts the
//! server.

use std::collections::BTreeMap;

use crate::error::SqlStateError;
use crate::model::schema::Result;

/// One hyperparameter of an algorithm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// The option's name, as `CREATE MODEL ... OPTIONS` spells it.
    pub name: &'static str,
    pub kind: Kind,
    /// What it controls and takes, for the docs' option table.
    pub doc: &'static str,
}

/// What a hyperparameter takes, and its default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Count {
        min: usize,
        max: usize,
        default: usize,
    },
    /// A whole number in `min..=max` whose default is no limit.
    Unlimited {
        min: usize,
        max: usize,
    },
    NonNegative {
        default: f64,
    },
    UnitInterval {
        default: f64,
    },
    /// Parsed by the algorithm; `default` is the text the docs show.
    Text {
        default: &'static str,
    },
}

impl Hyper {
    pub const fn count(name: &'static str, min: usize, default: usize, doc: &'static str) -> Hyper {
        Hyper {
            name,
            kind: Kind::Count {
                min,
                max: COUNT_MAX,
                default,
            },
            doc,
        }
    }

    /// The same count with a smaller maximum.
    pub const fn at_most(self, max: usize) -> Hyper {
        let kind = match self.kind {
            Kind::Count { min, default, .. } => Kind::Count { min, max, default },
            Kind::Unlimited { min, .. } => Kind::Unlimited { min, max },
            other => other,
        };
        Hyper { kind, ..self }
    }

    pub const fn unlimited(name: &'static str, min: usize, doc: &'static str) -> Hyper {
        Hyper {
            name,
            kind: Kind::Unlimited {
                min,
                max: COUNT_MAX,
            },
            doc,
        }
    }

    pub const fn non_negative(name: &'static str, default: f64, doc: &'static str) -> Hyper {
        Hyper {
            name,
            kind: Kind::NonNegative { default },
            doc,
        }
    }

    pub const fn unit_interval(name: &'static str, default: f64, doc: &'static str) -> Hyper {
        Hyper {
            name,
            kind: Kind::UnitInterval { default },
            doc,
        }
    }

    pub const fn text(name: &'static str, default: &'static str, doc: &'static str) -> Hyper {
        Hyper {
            name,
            kind: Kind::Text { default },
            doc,
        }
    }

    /// Whether a comma-separated list of values searches over it.
    pub fn searchable(&self) -> bool {
        !matches!(self.kind, Kind::Text { .. })
    }

    /// The default as the docs show it.
    pub fn default_text(&self) -> String {
        match self.kind {
            Kind::Count { default, .. } => default.to_string(),
            Kind::Unlimited { .. } => "unlimited".into(),
            Kind::NonNegative { default } | Kind::UnitInterval { default } => default.to_string(),
            Kind::Text { default } => default.into(),
        }
    }

    /// What values it takes, as the docs show it.
    pub fn values_text(&self) -> String {
        match self.kind {
            Kind::Count { min, max, .. } | Kind::Unlimited { min, max } => {
                format!("{}; a whole number from {min} to {max}", self.doc)
            }
            Kind::NonNegative { .. } => format!("{}; a number ≥ 0", self.doc),
            Kind::UnitInterval { .. } => format!("{}; a number in (0, 1]", self.doc),
            Kind::Text { .. } => self.doc.into(),
        }
    }
}

/// The hyperparameters of one training run: the options as given (keys
/// lowercased), read through an algorithm's [`Hyper`] specs.
#[derive(Debug, Clone, Copy)]
pub struct Hyperparameters<'a>(pub &'a BTreeMap<String, String>);

impl Hyperparameters<'_> {
    /// The value of a `Count` or `Unlimited` hyperparameter (`usize::MAX`
    /// for no limit).
    pub fn count(&self, h: &Hyper) -> Result<usize> {
        let (min, max, default) = match h.kind {
            Kind::Count { min, max, default } => (min, max, default),
            Kind::Unlimited { min, max } => (min, max, usize::MAX),
            _ => return Err(misused(h)),
        };
        match self.0.get(h.name) {
            Some(v) => count(h.name, v, min, max),
            None => Ok(default),
        }
    }

    /// The value of a `NonNegative` or `UnitInterval` hyperparameter.
    pub fn number(&self, h: &Hyper) -> Result<f64> {
        match (h.kind, self.0.get(h.name)) {
            (Kind::NonNegative { .. }, Some(v)) => non_negative(h.name, v),
            (Kind::UnitInterval { .. }, Some(v)) => unit_interval(h.name, v),
            (Kind::NonNegative { default } | Kind::UnitInterval { default }, None) => Ok(default),
            _ => Err(misused(h)),
        }
    }

    /// The given text of a hyperparameter, if any.
    pub fn text(&self, h: &Hyper) -> Option<&str> {
        self.0.get(h.name).map(String::as_str)
    }

    /// Checks the given value of every numeric hyperparameter of `list`, in
    /// order; `Text` ones are left to the algorithm.
    pub fn check_numbers(&self, list: &[Hyper]) -> Result<()> {
        for h in list {
            match h.kind {
                Kind::Count { .. } | Kind::Unlimited { .. } => self.count(h).map(drop)?,
                Kind::NonNegative { .. } | Kind::UnitInterval { .. } => self.number(h).map(drop)?,
                Kind::Text { .. } => {}
            }
        }
        Ok(())
    }

    /// Whether the hyperparameter was given.
    pub fn has(&self, h: &Hyper) -> bool {
        self.0.contains_key(h.name)
    }
}

/// A hyperparameter read as the wrong kind: a bug in an algorithm module.
fn misused(h: &Hyper) -> SqlStateError {
    SqlStateError::internal(format!("option {} read as the wrong kind", h.name))
}

/// A finite number.
pub fn number(key: &str, value: &str) -> Result<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| SqlStateError::option(key, "must be a number", format_args!("'{value}'")))
}

/// A finite number ≥ 0.
pub fn non_negative(key: &str, value: &str) -> Result<f64> {
    let v = number(key, value)?;
    if v < 0.0 {
        return Err(SqlStateError::option(key, "must be at least 0", value));
    }
    Ok(v)
}

/// A whole number ≥ `min`.
pub fn count(key: &str, value: &str, min: usize, max: usize) -> Result<usize> {
    let text = value.trim();
    let v = match text.parse::<usize>() {
        Ok(v) => v,
        // A whole number written with an exponent (`1e3`), or one too large
        // for a count (`1e12`, `99999999999999999999`): its value, saturated.
        Err(_)
            if text
                .parse::<f64>()
                .is_ok_and(|f| f >= 0.0 && f.fract() == 0.0) =>
        {
            text.parse::<f64>().map_or(usize::MAX, |f| f as usize)
        }
        Err(_) => {
            return Err(SqlStateError::option(
                key,
                "must be a whole number",
                format_args!("'{value}'"),
            ));
        }
    };
    if v < min {
        return Err(SqlStateError::option(
            key,
            format_args!("must be at least {min}"),
            v,
        ));
    }
    if v > max {
        return Err(SqlStateError::option(
            key,
            format_args!("must be at most {max}"),
            text,
        ));
    }
    Ok(v)
}

/// The largest count any option takes unless its algorithm says less.
pub const COUNT_MAX: usize = 1_000_000;

/// A number in (0, 1].
pub fn unit_interval(key: &str, value: &str) -> Result<f64> {
    let v = number(key, value)?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(SqlStateError::option(key, "must be in (0, 1]", value));
    }
    Ok(v)
}

/// A comma-separated list, trimmed, without empty items.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_with_the_documented_messages() {
        assert_eq!(count("k", "3", 1, 10), Ok(3));
        assert!(
            count("k", "0", 1, 10)
                .is_err_and(|e| e.message == "option k must be at least 1, got 0")
        );
        assert!(count("k", "x", 1, 10).is_err_and(|e| e.message.contains("whole number")));
        assert!(count("k", "1.5", 1, 10).is_err_and(|e| e.message.contains("whole number")));
        assert_eq!(count("k", "1e1", 1, 10), Ok(10));
        for huge in ["11", "1e12", "99999999999999999999999", "inf"] {
            let e = count("rounds", huge, 1, 10).expect_err(huge);
            assert_eq!(e.code, crate::error::sqlstate::INVALID_PARAMETER_VALUE);
            assert!(
                e.message.starts_with("option rounds must be") && !e.message.contains("at least"),
                "{}",
                e.message
            );
        }
        assert_eq!(non_negative("l2", "0"), Ok(0.0));
        assert!(
            non_negative("l2", "-1")
                .is_err_and(|e| e.message == "option l2 must be at least 0, got -1")
        );
        assert!(number("l2", "inf").is_err());
        assert!(unit_interval("subsample", "0").is_err_and(|e| e.message.contains("(0, 1]")));
        assert_eq!(unit_interval("subsample", "1"), Ok(1.0));
        assert_eq!(list(" a, ,b "), vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn docs_show_defaults_and_values() {
        let h = Hyper::unlimited("max_depth", 1, "tree depth").at_most(1000);
        assert_eq!(h.default_text(), "unlimited");
        assert_eq!(h.values_text(), "tree depth; a whole number from 1 to 1000");
        assert!(h.searchable());
        assert!(!Hyper::text("objective", "squared", "loss").searchable());
    }
}
