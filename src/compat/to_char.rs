//! `to_char(timestamp | timestamptz | date, pattern)` with PostgreSQL's
//! template patterns (`YYYY-MM-DD HH24:MI:SS`, `FMMonth`, `Dy`, `"text"`),
//! not DataFusion's, which takes chrono's `%Y-%m-%d` and printed a
//! PostgreSQL pattern back as text. Other argument types (intervals) go to
//! DataFusion's `to_char`.
//!
//! Written here: no crate formats PostgreSQL's templates. The patterns are
//! PostgreSQL's table "Template Patterns for Date/Time Formatting"; numbers
//! are zero-padded to their width unless `FM` precedes them, names are
//! blank-padded to nine characters unless `FM` precedes them, anything else
//! (and text in double quotes, or a character after a backslash) is copied.
//! A `timestamptz` is shown in the session's time zone.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::SqlStateError;

/// `to_char`, PostgreSQL's for dates and times.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    signature: Signature,
}

impl ToChar {
    pub fn new() -> Self {
        ToChar {
            signature: Signature::any(2, Volatility::Stable),
        }
    }
}

impl Default for ToChar {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.args[0].data_type() {
            DataType::Timestamp(_, Some(_)) => Some(
                args.config_options
                    .execution
                    .time_zone
                    .clone()
                    .unwrap_or_else(|| "+00:00".to_string()),
            ),
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64 => None,
            _ => {
                // Intervals and the like: DataFusion's to_char.
                let builtin = datafusion::functions::datetime::to_char();
                return builtin.invoke_with_args(args);
            }
        };
        let n = args.number_rows;
        let values = args.args[0].to_array(n)?;
        let patterns = args.args[1].to_array(n)?;
        let patterns = cast(&patterns, &DataType::Utf8)?;
        let patterns = patterns.as_string::<i32>();
        // Every instant as microseconds since the epoch, UTC.
        let micros = cast(
            &cast(&values, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
            &DataType::Int64,
        )?;
        let micros = micros.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let zone = match zone {
            Some(name) => Some(Zone::parse(&name)?),
            None => None,
        };
        let mut out = StringBuilder::with_capacity(n, n * 16);
        for i in 0..n {
            if micros.is_null(i) || patterns.is_null(i) {
                out.append_null();
                continue;
            }
            let Some(utc) = DateTime::from_timestamp_micros(micros.value(i)) else {
                out.append_null();
                continue;
            };
            let (local, offset, name) = match &zone {
                Some(z) => z.local(&utc),
                None => (utc.naive_utc(), 0, String::new()),
            };
            let mut text = String::new();
            format(&local, offset, &name, patterns.value(i), &mut text);
            out.append_value(&text);
        }
        let out: ArrayRef = Arc::new(out.finish());
        Ok(match (&args.args[0], &args.args[1]) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
            }
            _ => ColumnarValue::Array(out),
        })
    }
}

/// The session's time zone, for `timestamptz` values.
struct Zone {
    tz: Tz,
    /// The name `TZ` prints when the zone is UTC.
    utc: bool,
}

impl Zone {
    fn parse(name: &str) -> Result<Zone> {
        let tz: Tz = name.parse().map_err(|e| {
            SqlStateError::bad_argument(format!("to_char: time zone {name:?}: {e}")).into_df()
        })?;
        let utc = matches!(name, "+00:00" | "UTC" | "utc" | "Z" | "+00");
        Ok(Zone { tz, utc })
    }

    /// The local time, its offset from UTC in seconds, and the zone's name.
    fn local(&self, utc: &DateTime<chrono::Utc>) -> (NaiveDateTime, i32, String) {
        let local = self.tz.from_utc_datetime(&utc.naive_utc());
        let offset = local.offset().fix().local_minus_utc();
        let name = if self.utc {
            "UTC".to_string()
        } else {
            offset_text(offset)
        };
        (local.naive_local(), offset, name)
    }
}

/// `+02`, `-05:30`: PostgreSQL's `OF`.
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}:{m:02}")
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The patterns, longest first where one begins another.
const PATTERNS: &[&str] = &[
    "HH24", "HH12", "HH", "MI", "SSSS", "SS", "MS", "US", "A.M.", "P.M.", "a.m.", "p.m.", "AM",
    "PM", "am", "pm", "IYYY", "YYYY", "YYY", "YY", "Y", "MONTH", "Month", "month", "MON", "Mon",
    "mon", "MM", "DAY", "Day", "day", "DDD", "DD", "DY", "Dy", "dy", "D", "IW", "WW", "W", "Q",
    "CC", "J", "TZ", "tz", "OF",
];

/// Writes `t` as `pattern` says.
pub fn format(t: &NaiveDateTime, offset: i32, zone: &str, pattern: &str, out: &mut String) {
    let mut rest = pattern;
    let mut fill_mode = false;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("FM") {
            fill_mode = true;
            rest = after;
            continue;
        }
        if c == '"' {
            let mut chars = rest[1..].char_indices();
            let mut end = rest.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            out.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 2;
                        break;
                    }
                    other => out.push(other),
                }
            }
            rest = &rest[end.min(rest.len())..];
            fill_mode = false;
            continue;
        }
        if c == '\\' {
            let mut chars = rest.chars();
            chars.next();
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
            rest = chars.as_str();
            continue;
        }
        match PATTERNS.iter().find(|p| rest.starts_with(*p)) {
            Some(p) => {
                field(t, offset, zone, p, fill_mode, out);
                rest = &rest[p.len()..];
                fill_mode = false;
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

/// A number, zero-padded to `width` unless in fill mode.
fn number(value: i64, width: usize, fill_mode: bool, out: &mut String) {
    if fill_mode {
        let _ = write!(out, "{value}");
    } else if value < 0 {
        let _ = write!(out, "-{:0width$}", -value, width = width);
    } else {
        let _ = write!(out, "{value:0width$}");
    }
}

/// A name in the pattern's case, blank-padded to `width` unless in fill mode.
fn name(text: &str, pattern: &str, width: usize, fill_mode: bool, out: &mut String) {
    let upper = pattern.chars().nth(1).is_some_and(char::is_uppercase);
    let lower = pattern.chars().next().is_some_and(char::is_lowercase);
    let shown = if upper {
        text.to_uppercase()
    } else if lower {
        text.to_lowercase()
    } else {
        text.to_string()
    };
    if fill_mode {
        out.push_str(&shown);
    } else {
        let _ = write!(out, "{shown:<width$}");
    }
}

fn field(t: &NaiveDateTime, offset: i32, zone: &str, p: &str, fm: bool, out: &mut String) {
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let pm = t.hour() >= 12;
    let year = i64::from(t.year());
    let month = t.month0() as usize;
    let weekday = t.weekday().num_days_from_sunday() as usize;
    match p {
        "HH24" => number(i64::from(t.hour()), 2, fm, out),
        "HH12" | "HH" => number(i64::from(hour12), 2, fm, out),
        "MI" => number(i64::from(t.minute()), 2, fm, out),
        "SS" => number(i64::from(t.second()), 2, fm, out),
        "SSSS" => number(i64::from(t.num_seconds_from_midnight()), 1, true, out),
        "MS" => number(i64::from(t.nanosecond() / 1_000_000), 3, fm, out),
        "US" => number(i64::from(t.nanosecond() / 1_000), 6, fm, out),
        "AM" | "PM" => out.push_str(if pm { "PM" } else { "AM" }),
        "am" | "pm" => out.push_str(if pm { "pm" } else { "am" }),
        "A.M." | "P.M." => out.push_str(if pm { "P.M." } else { "A.M." }),
        "a.m." | "p.m." => out.push_str(if pm { "p.m." } else { "a.m." }),
        "YYYY" => number(year, 4, fm, out),
        "YYY" => number(year.rem_euclid(1000), 3, fm, out),
        "YY" => number(year.rem_euclid(100), 2, fm, out),
        "Y" => number(year.rem_euclid(10), 1, fm, out),
        "IYYY" => number(i64::from(t.iso_week().year()), 4, fm, out),
        "MONTH" | "Month" | "month" => name(MONTHS[month], p, 9, fm, out),
        "MON" | "Mon" | "mon" => name(&MONTHS[month][..3], p, 3, true, out),
        "MM" => number(i64::from(t.month()), 2, fm, out),
        "DAY" | "Day" | "day" => name(DAYS[weekday], p, 9, fm, out),
        "DY" | "Dy" | "dy" => name(&DAYS[weekday][..3], p, 3, true, out),
        "DDD" => number(i64::from(t.ordinal()), 3, fm, out),
        "DD" => number(i64::from(t.day()), 2, fm, out),
        "D" => number(weekday as i64 + 1, 1, fm, out),
        "IW" => number(i64::from(t.iso_week().week()), 2, fm, out),
        "WW" => number(i64::from(t.ordinal0() / 7 + 1), 2, fm, out),
        "W" => number(i64::from(t.day0() / 7 + 1), 1, fm, out),
        "Q" => number(i64::from(t.month0() / 3 + 1), 1, fm, out),
        "CC" => {
            let century = if year > 0 {
                (year - 1) / 100 + 1
            } else {
                year / 100 - 1
            };
            number(century, 2, fm, out)
        }
        "J" => number(i64::from(t.num_days_from_ce()) + 1_721_425, 1, true, out),
        "TZ" => out.push_str(&zone.to_uppercase()),
        "tz" => out.push_str(&zone.to_lowercase()),
        "OF" => out.push_str(&offset_text(offset)),
        _ => out.push_str(p),
    }
}

/// Registers `to_char` over DataFusion's.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(ScalarUDF::from(ToChar::new()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").expect("a time")
    }

    fn shown(t: &str, pattern: &str) -> String {
        let mut out = String::new();
        format(&at(t), 0, "UTC", pattern, &mut out);
        out
    }

    // Each expected text is what PostgreSQL 15 prints for the same call.
    #[test]
    fn numbers_are_zero_padded_unless_fill_mode() {
        let t = "2024-03-05 14:07:09.012345";
        assert_eq!(shown(t, "YYYY-MM-DD HH24:MI:SS"), "2024-03-05 14:07:09");
        assert_eq!(shown(t, "YYYY-MM"), "2024-03");
        assert_eq!(shown(t, "FMDD/FMMM/YY HH12:MI AM"), "5/3/24 02:07 PM");
        assert_eq!(shown(t, "MS US"), "012 012345");
        assert_eq!(
            shown(t, "DDD D Q IW WW W CC J"),
            "065 3 1 10 10 1 21 2460375"
        );
    }

    #[test]
    fn names_are_blank_padded_to_nine_unless_fill_mode() {
        let t = "2024-03-05 14:07:09";
        assert_eq!(
            shown(t, "Month|FMMonth|MONTH|mon"),
            "March    |March|MARCH    |mar"
        );
        assert_eq!(shown(t, "Day, Dy DD"), "Tuesday  , Tue 05");
        assert_eq!(shown(t, "FMDay"), "Tuesday");
    }

    #[test]
    fn quoted_text_and_escapes_are_copied() {
        let t = "2024-03-05 00:07:09";
        assert_eq!(
            shown(t, "\"Quarter\" Q, \"YYYY\" YYYY"),
            "Quarter 1, YYYY 2024"
        );
        assert_eq!(shown(t, "HH12 a.m."), "12 a.m.");
        assert_eq!(shown(t, "TZ OF"), "UTC +00");
        assert_eq!(offset_text(19_800), "+05:30");
        assert_eq!(offset_text(-7_200), "-02");
    }
}
