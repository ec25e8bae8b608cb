//! Quoted literals compared with a typed value are read as that type, as
//! PostgreSQL reads an `unknown` literal: `flag = 'true'`, `flag = 'yes'`,
//! `ts >= '2024-01-01 10:00'` (no seconds), `tags = '{a,b}'`; and a quoted
//! literal cast to `timestamp` (an `INSERT`'s value for such a column) is
//! read as PostgreSQL reads it too.
//!
//! DataFusion types `'true'` as text and refuses `boolean = text`, and its
//! text-to-timestamp cast wants seconds. This analyzer rule, run before type
//! coercion, replaces a text literal on one side of a comparison whose other
//! side is a `boolean` or a `timestamp` with the value PostgreSQL's input
//! function gives it. A literal PostgreSQL would refuse is left alone, to
//! fail as before.

use chrono::NaiveDateTime;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct UnknownLiterals;

impl AnalyzerRule for UnknownLiterals {
    fn name(&self) -> &str {
        "unknown_literals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(read_node).map(|t| t.data)
    }
}

fn comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

fn text_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Some(s),
        _ => None,
    }
}

/// A comparison with a text literal on one side, or a text literal cast
/// to a type this reads (`'2024-01-01 10:00'::timestamp`, an `INSERT`'s
/// value for a `timestamp` column): the only shapes rewritten.
fn candidate(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(match e {
            Expr::BinaryExpr(b) => {
                comparison(b.op)
                    && (text_literal(&b.left).is_some() != text_literal(&b.right).is_some())
            }
            Expr::Cast(c) => text_literal(&c.expr).is_some() && read_by_cast(c.field.data_type()),
            Expr::TryCast(c) => {
                text_literal(&c.expr).is_some() && read_by_cast(c.field.data_type())
            }
            _ => false,
        })
    })
    .unwrap_or(false)
}

fn read_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    super::exprs::rewrite_node(plan, candidate, read_expr)
}

/// Types whose text DataFusion's cast reads more narrowly than
/// PostgreSQL's input function: timestamps without seconds.
fn read_by_cast(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(_, None))
}

fn read_expr(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let cast = match &e {
        Expr::Cast(c) => Some((&c.expr, c.field.data_type())),
        Expr::TryCast(c) => Some((&c.expr, c.field.data_type())),
        _ => None,
    };
    if let Some((inner, data_type)) = cast {
        let value = text_literal(inner)
            .filter(|_| read_by_cast(data_type))
            .and_then(|text| typed_value(data_type, text));
        return Ok(match value {
            Some(value) => Transformed::yes(Expr::Literal(value, None)),
            None => Transformed::no(e),
        });
    }
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return Ok(Transformed::no(e));
    };
    if !comparison(op) {
        return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
            left,
            op,
            right,
        })));
    }
    // An array literal PostgreSQL's `array_in` refuses is its 22P02, not a
    // type mismatch.
    for (typed, text) in [(&left, text_literal(&right)), (&right, text_literal(&left))] {
        if let Some(text) = text
            && text.trim_start().starts_with('{')
            && matches!(typed.get_type(schema), Ok(DataType::List(f)) if !matches!(f.data_type(), DataType::List(_)))
            && array_elements(text).is_none()
        {
            return Err(crate::error::SqlStateError::new(
                crate::error::sqlstate::INVALID_TEXT_REPRESENTATION,
                format!("malformed array literal: \"{text}\""),
            )
            .into_df());
        }
    }
    let read = |typed: &Expr, text: &str| -> Option<Expr> {
        let value = typed_value(&typed.get_type(schema).ok()?, text)?;
        Some(Expr::Literal(value, None))
    };
    let (left, right, changed) = match (text_literal(&left), text_literal(&right)) {
        (None, Some(text)) => match read(&left, text) {
            Some(v) => (left, Box::new(v), true),
            None => (left, right, false),
        },
        (Some(text), None) => match read(&right, text) {
            Some(v) => (Box::new(v), right, true),
            None => (left, right, false),
        },
        _ => (left, right, false),
    };
    let e = Expr::BinaryExpr(BinaryExpr { left, op, right });
    Ok(if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    })
}

/// `text` as a value of `data_type`, as PostgreSQL's input function reads it.
fn typed_value(data_type: &DataType, text: &str) -> Option<ScalarValue> {
    match data_type {
        DataType::Boolean => boolean(text).map(|b| ScalarValue::Boolean(Some(b))),
        DataType::Timestamp(unit, None) => {
            let t = timestamp(text)?.and_utc();
            Some(match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(Some(t.timestamp()), None),
                TimeUnit::Millisecond => {
                    ScalarValue::TimestampMillisecond(Some(t.timestamp_millis()), None)
                }
                TimeUnit::Microsecond => {
                    ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), None)
                }
                TimeUnit::Nanosecond => {
                    ScalarValue::TimestampNanosecond(Some(t.timestamp_nanos_opt()?), None)
                }
            })
        }
        DataType::List(element) => {
            let values = array_elements(text)?
                .into_iter()
                .map(|item| match item {
                    None => ScalarValue::try_from(element.data_type()).ok(),
                    Some(item) => element_value(element.data_type(), &item),
                })
                .collect::<Option<Vec<_>>>()?;
            Some(ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                element.data_type(),
            )))
        }
        _ => None,
    }
}

/// One element of an array literal as a value of `data_type`: integers,
/// text and booleans (what catalog queries compare arrays of).
fn element_value(data_type: &DataType, text: &str) -> Option<ScalarValue> {
    Some(match data_type {
        DataType::Int16 => ScalarValue::Int16(Some(text.trim().parse().ok()?)),
        DataType::Int32 => ScalarValue::Int32(Some(text.trim().parse().ok()?)),
        DataType::Int64 => ScalarValue::Int64(Some(text.trim().parse().ok()?)),
        DataType::Utf8 => ScalarValue::Utf8(Some(text.to_string())),
        DataType::Boolean => ScalarValue::Boolean(Some(boolean(text)?)),
        _ => return None,
    })
}

/// The elements of a one-dimensional array literal as PostgreSQL's
/// `array_in` reads them: `{1,2}`, `{a,"b, c",NULL}` (an unquoted `NULL` is
/// a null element); `None` for anything else (nested arrays, bounds).
fn array_elements(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let (item, quoted) = if chars.next_if_eq(&'"').is_some() {
            let mut item = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => item.push(chars.next()?),
                    c => item.push(c),
                }
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            (item, true)
        } else {
            let mut item = String::new();
            while let Some(c) = chars.next_if(|c| *c != ',') {
                match c {
                    '{' | '}' | '"' => return None,
                    '\\' => item.push(chars.next()?),
                    c => item.push(c),
                }
            }
            let item = item.trim().to_string();
            // `{a,,b}`: PostgreSQL's "malformed array literal".
            if item.is_empty() {
                return None;
            }
            (item, false)
        };
        items.push((quoted || !item.eq_ignore_ascii_case("null")).then_some(item));
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// PostgreSQL's `boolin`: `t`, `true`, `yes`, `on`, `1` and their unique
/// prefixes (and the same for false), any case, surrounding blanks ignored.
pub fn boolean(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    if word.is_empty() {
        return None;
    }
    let prefix_of = |full: &str| full.starts_with(word.as_str());
    match word.as_str() {
        "1" => Some(true),
        "0" => Some(false),
        // "o" is a prefix of both on and off.
        "o" => None,
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if word.len() >= 2 && prefix_of("on") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ if word.len() >= 2 && prefix_of("off") => Some(false),
        _ => None,
    }
}

/// A `timestamp` in the forms PostgreSQL takes that DataFusion's cast does
/// not: minutes without seconds, `T` or blank between date and time.
fn timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_as_postgresqls_boolin() {
        for t in ["t", "TRUE", " yes ", "y", "on", "1", "tr"] {
            assert_eq!(boolean(t), Some(true), "{t}");
        }
        for f in ["f", "false", "no", "n", "off", "of", "0", "FA"] {
            assert_eq!(boolean(f), Some(false), "{f}");
        }
        for bad in ["o", "", "2", "truth", "yess"] {
            assert_eq!(boolean(bad), None, "{bad}");
        }
    }

    #[test]
    fn array_literals_read_as_postgresqls_array_in() {
        let read = |t: &str| array_elements(t);
        assert_eq!(read("{0}"), Some(vec![Some("0".to_string())]));
        assert_eq!(read("{}"), Some(vec![]));
        assert_eq!(
            read(r#"{a, "b, \"c" ,NULL,"NULL"}"#),
            Some(vec![
                Some("a".to_string()),
                Some("b, \"c".to_string()),
                None,
                Some("NULL".to_string())
            ])
        );
        assert_eq!(
            read(r"{a\,b,c}"),
            Some(vec![Some("a,b".to_string()), Some("c".to_string())])
        );
        assert_eq!(read("{a,,b}"), None);
        assert_eq!(read("{{1,2},{3,4}}"), None);
        assert_eq!(read("1,2"), None);
        let list = typed_value(
            &DataType::List(std::sync::Arc::new(
                datafusion::arrow::datatypes::Field::new_list_field(DataType::Int32, true),
            )),
            "{1, NULL,3}",
        );
        let Some(ScalarValue::List(list)) = list else {
            panic!("not a list: {list:?}")
        };
        let values = list.value(0);
        let values = values
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int32Array>()
            .map(|a| a.iter().collect::<Vec<_>>());
        assert_eq!(values, Some(vec![Some(1), None, Some(3)]));
    }

    #[test]
    fn timestamps_without_seconds_are_read() {
        assert_eq!(
            timestamp("2024-01-01 10:00").map(|t| t.to_string()),
            Some("2024-01-01 10:00:00".to_string())
        );
        assert_eq!(timestamp("2024-01-01 10:00:00"), None);
    }
}
