//! PostgreSQL's `format(formatstr text [, arg ...])`: `%s` as text (NULL as
//! nothing), `%I` as an identifier quoted when it must be, `%L` as a quoted
//! literal (NULL as `NULL`), `%%` a percent sign; each with an optional
//! argument position `n$`, a `-` flag and a width (`10`, `*`, `*n$`).
//! Client tools build names with it in catalog queries (sqlsmith's type list
//! does), and scripts build dynamic SQL.
//!
//! The format string is parsed once when it is a constant, else per row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{SqlStateError, sqlstate};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Format {
    signature: Signature,
}

impl Format {
    pub fn new() -> Self {
        Format {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for Format {
    fn default() -> Self {
        Format::new()
    }
}

/// How a piece of the format string is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Identifier,
    Literal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    None,
    Fixed(usize),
    /// The width is an argument: the next one, or argument n (0-based).
    Argument(Option<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Spec {
        /// 0-based argument position, when given as `n$`.
        position: Option<usize>,
        left: bool,
        width: Width,
        kind: Kind,
    },
}

fn bad(message: impl Into<String>) -> SqlStateError {
    SqlStateError::new(sqlstate::INVALID_PARAMETER_VALUE, message)
}

/// Reads digits at `chars[*at..]` as a number, if any.
fn number(chars: &[char], at: &mut usize) -> Result<Option<usize>, SqlStateError> {
    let start = *at;
    while *at < chars.len() && chars[*at].is_ascii_digit() {
        *at += 1;
    }
    if *at == start {
        return Ok(None);
    }
    let digits: String = chars[start..*at].iter().collect();
    digits
        .parse()
        .map(Some)
        .map_err(|_| bad("number is out of range"))
}

/// An argument position `n$` (1-based in the text) as 0-based.
fn position(n: usize) -> Result<usize, SqlStateError> {
    n.checked_sub(1)
        .ok_or_else(|| bad("format specifies argument 0, but arguments are numbered from 1"))
}

fn parse(format: &str) -> Result<Vec<Piece>, SqlStateError> {
    let chars: Vec<char> = format.chars().collect();
    let unterminated = || bad("unterminated format() type specifier");
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        at += 1;
        if c != '%' {
            literal.push(c);
            continue;
        }
        if chars.get(at) == Some(&'%') {
            literal.push('%');
            at += 1;
            continue;
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        // `n$` or a width of digits: which one, the `$` says.
        let mut spec_position = None;
        let mut width = Width::None;
        let checkpoint = at;
        if let Some(n) = number(&chars, &mut at)? {
            if chars.get(at) == Some(&'$') {
                at += 1;
                spec_position = Some(position(n)?);
            } else {
                at = checkpoint;
            }
        }
        let mut left = false;
        while chars.get(at) == Some(&'-') {
            left = true;
            at += 1;
        }
        if chars.get(at) == Some(&'*') {
            at += 1;
            let before = at;
            match number(&chars, &mut at)? {
                Some(n) if chars.get(at) == Some(&'$') => {
                    at += 1;
                    width = Width::Argument(Some(position(n)?));
                }
                Some(_) => return Err(unterminated()),
                None => {
                    at = before;
                    width = Width::Argument(None);
                }
            }
        } else if let Some(n) = number(&chars, &mut at)? {
            width = Width::Fixed(n);
        }
        let kind = match chars.get(at) {
            Some('s') => Kind::Text,
            Some('I') => Kind::Identifier,
            Some('L') => Kind::Literal,
            Some(other) => {
                return Err(
                    bad(format!("unrecognized format() type specifier \"{other}\""))
                        .with_hint("For a single \"%\" use \"%%\"."),
                );
            }
            None => return Err(unterminated()),
        };
        at += 1;
        pieces.push(Piece::Spec {
            position: spec_position,
            left,
            width,
            kind,
        });
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// PostgreSQL's `quote_ident`: unquoted when lower-case letters, digits and
/// underscores not starting with a digit and not a reserved word.
pub fn quote_ident(name: &str, out: &mut String) {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !crate::dialect::is_reserved(name);
    if plain {
        out.push_str(name);
        return;
    }
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// PostgreSQL's `quote_literal`: `'...'`, an `E` prefix and doubled
/// backslashes when the text has a backslash.
pub fn quote_literal(text: &str, out: &mut String) {
    if text.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// The arguments as text, PostgreSQL's way for booleans (`t`, `f`).
fn texts(args: &[ArrayRef]) -> Result<Vec<Vec<Option<String>>>> {
    let options = FormatOptions::default();
    args.iter()
        .map(|a| {
            if let Some(b) = a
                .as_any()
                .downcast_ref::<datafusion::arrow::array::BooleanArray>()
            {
                return Ok(b
                    .iter()
                    .map(|v| v.map(|v| if v { "t" } else { "f" }.to_string()))
                    .collect());
            }
            // Logical nulls: a NULL literal is a NullArray, which has no
            // null buffer.
            let nulls = a.logical_nulls();
            let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
            let f = ArrayFormatter::try_new(a.as_ref(), &options)?;
            Ok((0..a.len())
                .map(|i| valid(i).then(|| f.value(i).to_string()))
                .collect())
        })
        .collect()
}

/// One row: `pieces` filled from `args` (each an argument's text, or None).
fn fill(pieces: &[Piece], args: &[Option<&str>], out: &mut String) -> Result<(), SqlStateError> {
    let few = || bad("too few arguments for format()");
    let mut next = 0;
    let mut value = String::new();
    for piece in pieces {
        let (position, left, width, kind) = match piece {
            Piece::Literal(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Spec {
                position,
                left,
                width,
                kind,
            } => (*position, *left, *width, *kind),
        };
        let mut left = left;
        let width = match width {
            Width::None => 0,
            Width::Fixed(n) => n,
            Width::Argument(at) => {
                let at = at.unwrap_or(next);
                next = at + 1;
                let text = args.get(at).ok_or_else(few)?;
                match text {
                    None => 0,
                    Some(t) => {
                        let n: i64 = t.trim().parse().map_err(|_| {
                            bad(format!(
                                "format() width argument must be an integer, got \"{t}\""
                            ))
                        })?;
                        if n < 0 {
                            left = true;
                        }
                        n.unsigned_abs() as usize
                    }
                }
            }
        };
        let at = position.unwrap_or(next);
        next = at + 1;
        let arg = *args.get(at).ok_or_else(few)?;
        value.clear();
        match (kind, arg) {
            (Kind::Text, Some(t)) => value.push_str(t),
            (Kind::Text, None) => {}
            (Kind::Identifier, Some(t)) => quote_ident(t, &mut value),
            (Kind::Identifier, None) => {
                return Err(SqlStateError::new(
                    sqlstate::NULL_VALUE_NOT_ALLOWED,
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            (Kind::Literal, Some(t)) => quote_literal(t, &mut value),
            (Kind::Literal, None) => value.push_str("NULL"),
        }
        let pad = width.saturating_sub(value.chars().count());
        if !left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(&value);
        if left {
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    Ok(())
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some((format, rest)) = args.args.split_first() else {
            return Err(bad("format() needs a format string").into_df());
        };
        let formats = texts(&[format.to_array(rows)?])?.remove(0);
        // A constant format string is parsed once.
        let constant = match format {
            ColumnarValue::Scalar(s) if s.is_null() => {
                return Ok(ColumnarValue::Scalar(
                    datafusion::scalar::ScalarValue::Utf8(None),
                ));
            }
            ColumnarValue::Scalar(_) => match formats.first() {
                Some(Some(text)) => Some(parse(text).map_err(SqlStateError::into_df)?),
                _ => None,
            },
            ColumnarValue::Array(_) => None,
        };
        let arrays = rest
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let values = texts(&arrays)?;
        let mut builder = StringBuilder::with_capacity(rows, rows * 16);
        let mut line = String::new();
        let mut row_args: Vec<Option<&str>> = Vec::with_capacity(values.len());
        for row in 0..rows {
            let Some(format_text) = &formats[row] else {
                builder.append_null();
                continue;
            };
            row_args.clear();
            row_args.extend(values.iter().map(|v| v[row].as_deref()));
            line.clear();
            let parsed;
            let pieces = match &constant {
                Some(p) => p,
                None => {
                    parsed = parse(format_text).map_err(SqlStateError::into_df)?;
                    &parsed
                }
            };
            fill(pieces, &row_args, &mut line).map_err(SqlStateError::into_df)?;
            builder.append_value(&line);
        }
        let array: StringArray = builder.finish();
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(format: &str, args: &[Option<&str>]) -> Result<String, SqlStateError> {
        let mut out = String::new();
        fill(&parse(format)?, args, &mut out)?;
        Ok(out)
    }

    #[test]
    fn specifiers_fill_as_postgresql_does() {
        // Expected values from PostgreSQL 15's documentation examples.
        assert_eq!(
            formatted("Hello %s", &[Some("World")]).expect("formats"),
            "Hello World"
        );
        assert_eq!(
            formatted(
                "Testing %s, %s, %s, %%",
                &[Some("one"), Some("two"), Some("three")]
            )
            .expect("formats"),
            "Testing one, two, three, %"
        );
        assert_eq!(
            formatted(
                "INSERT INTO %I VALUES(%L)",
                &[Some("Foo bar"), Some("O'Reilly")]
            )
            .expect("formats"),
            "INSERT INTO \"Foo bar\" VALUES('O''Reilly')"
        );
        assert_eq!(
            formatted(
                "INSERT INTO %I VALUES(%L)",
                &[Some("locations"), Some("C:\\Program Files")]
            )
            .expect("formats"),
            "INSERT INTO locations VALUES(E'C:\\\\Program Files')"
        );
        assert_eq!(
            formatted("|%10s|", &[Some("foo")]).expect("formats"),
            "|       foo|"
        );
        assert_eq!(
            formatted("|%-10s|", &[Some("foo")]).expect("formats"),
            "|foo       |"
        );
        assert_eq!(
            formatted("|%*s|", &[Some("10"), Some("foo")]).expect("formats"),
            "|       foo|"
        );
        assert_eq!(
            formatted("|%*s|", &[Some("-10"), Some("foo")]).expect("formats"),
            "|foo       |"
        );
        assert_eq!(
            formatted("|%-*s|", &[Some("10"), Some("foo")]).expect("formats"),
            "|foo       |"
        );
        assert_eq!(
            formatted(
                "Testing %3$s, %2$s, %1$s",
                &[Some("one"), Some("two"), Some("three")]
            )
            .expect("formats"),
            "Testing three, two, one"
        );
        assert_eq!(
            formatted("|%*2$s|", &[Some("foo"), Some("10"), Some("bar")]).expect("formats"),
            "|       bar|"
        );
        assert_eq!(
            formatted(
                "Testing %3$s, %2$s, %s",
                &[Some("one"), Some("two"), Some("three")]
            )
            .expect("formats"),
            "Testing three, two, three"
        );
        assert_eq!(formatted("%s|%L", &[None, None]).expect("formats"), "|NULL");
        assert_eq!(
            formatted("%I.%I", &[Some("pg_catalog"), Some("int4")]).expect("formats"),
            "pg_catalog.int4"
        );
        assert_eq!(
            formatted("%I", &[Some("select")]).expect("formats"),
            "\"select\""
        );
    }

    #[test]
    fn mistakes_are_postgresql_errors() {
        let e = formatted("%s %s", &[Some("x")]).expect_err("an error");
        assert_eq!(e.code, "22023");
        assert_eq!(e.message, "too few arguments for format()");
        let e = formatted("%x", &[Some("x")]).expect_err("an error");
        assert_eq!(e.message, "unrecognized format() type specifier \"x\"");
        assert_eq!(
            formatted("50%", &[]).expect_err("an error").message,
            "unterminated format() type specifier"
        );
        assert_eq!(
            formatted("%0$s", &[Some("x")]).expect_err("an error").code,
            "22023"
        );
        assert_eq!(
            formatted("%I", &[None]).expect_err("an error").code,
            "22004"
        );
    }
}
