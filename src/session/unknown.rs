//! Quoted literals compared with a typed value are read as that type, as
//! PostgreSQL reads an `unknown` literal: `flag = 'true'`, `flag = 'yes'`,
//! `ts >= '2024-01-01 10:00'` (no seconds).
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

/// A comparison with a text literal on one side: the only shape rewritten.
fn candidate(e: &Expr) -> bool {
    e.exists(|e| {
        Ok(matches!(e, Expr::BinaryExpr(b)
            if comparison(b.op)
                && (text_literal(&b.left).is_some() != text_literal(&b.right).is_some())))
    })
    .unwrap_or(false)
}

fn read_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    super::exprs::rewrite_node(plan, candidate, read_expr)
}

fn read_expr(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
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
        _ => None,
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
    fn timestamps_without_seconds_are_read() {
        assert_eq!(
            timestamp("2024-01-01 10:00").map(|t| t.to_string()),
            Some("2024-01-01 10:00:00".to_string())
        );
        assert_eq!(timestamp("2024-01-01 10:00:00"), None);
    }
}
