//! `ml_pii_scan(relation [, min_share])`: which columns hold personal data,
//! judged by their values, with the share that matches.
//!
//! Plan: each text or integer column becomes a branch that labels every
//! value with the kind it looks like ([`super::pii::kind`]); a date or
//! timestamp column whose name says birth (`birth_date`, `dob`) labels
//! dates from 1900 to today as `date_of_birth`. The branches are unioned
//! and counted per column and kind in one aggregate, so the relation is
//! read once per candidate column and nothing but counts is kept. Rows
//! come in no particular order (`ORDER BY position`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::greatest;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, DocumentationBuilder, Expr, LogicalPlan,
    LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
    col, ident, lit, when,
};

use super::pii::{KINDS, kind, names_birth_date};
use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::params::{Arg, Args, Param, Params, RELATION};
use crate::functions::relation::RelationFunction;

pub const NAME: &str = "ml_pii_scan";

/// The share of a column's values that makes it proposed for a `pii` tag
/// when none is given.
const DEFAULT_MIN_SHARE: f64 = 0.5;

#[derive(Debug, Default)]
pub struct PiiScanUdtf;

impl TableFunctionSpec for PiiScanUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "min_share",
            "Optional number in (0, 1]: the share of a column's non-NULL values that must match one kind for the column to be proposed as pii; default 0.5.",
        )
        .optional(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Privacy", description: None },
            "Looks for personal data in a relation's values: one row per text or integer column (and per date or timestamp column whose name says birth: birth_date, date_of_birth, dob), with position (the column's place in the relation, from 1), column_name, non_null (values scanned), detected (the kind most values match: email; iban, with its mod-97 check; card, 13 to 19 digits starting 2-6 with a valid Luhn check digit; ip, IPv4 or IPv6; phone, 9 to 15 digits written with a leading + or 0 or with separators; date_of_birth, a date from 1900 to today in a column so named), matches, share (matches / non_null) and proposed_tag ('pii' when share is at least min_share). It proposes; ml_tag records. A column of bare numbers is not taken for phone numbers, and names, addresses or free text are not recognised: review the columns yourself too. Errors: 22023 for a min_share outside (0, 1].",
            "SELECT * FROM ml_pii_scan(relation [, min_share])",
        )
        .with_sql_example(
r#"```sql
> SELECT column_name, detected, matches, share, proposed_tag
  FROM ml_pii_scan((SELECT 'ann@example.org' AS contact, '192.168.1.7' AS ip, 42 AS id
                    UNION ALL SELECT 'ben@example.org', '10.0.0.1', 43))
  ORDER BY column_name;
+-------------+----------+---------+-------+--------------+
| column_name | detected | matches | share | proposed_tag |
+-------------+----------+---------+-------+--------------+
| contact     | email    | 2       | 1     | pii          |
| id          |          | 0       | 0     |              |
| ip          | ip       | 2       | 1     | pii          |
+-------------+----------+---------+-------+--------------+
```"#,
        )
    }
}

const COLUMN: &str = "column_name";
const ORDINAL: &str = "ordinal";
const POSITION: &str = "position";
const KIND: &str = "kind";
const PRESENT: &str = "present";
const NON_NULL: &str = "non_null";
const MATCHES: &str = "matches";

impl RelationFunction for PiiScanUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let input = args.relation(0)?;
        let min_share = match args.take(1) {
            None => DEFAULT_MIN_SHARE,
            Some(Arg::Value(Expr::Literal(v, _))) => share(&v).map_err(SqlStateError::into_df)?,
            Some(_) => {
                return Err(SqlStateError::bad_argument(format!(
                    "{NAME}: min_share must be a constant number"
                ))
                .into_df());
            }
        };
        args.at_most(2)?;
        let classify = ScalarUDF::new_from_impl(PiiKind::default());
        let mut branches = Vec::new();
        for (i, field) in input.schema().fields().iter().enumerate() {
            let column = ident(field.name());
            let kind = match field.data_type() {
                t if t.is_integer()
                    || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) =>
                {
                    classify.call(vec![cast(column.clone(), DataType::Utf8)])
                }
                DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
                    if names_birth_date(field.name()) =>
                {
                    let day = cast(column.clone(), DataType::Date32);
                    when(
                        day.clone()
                            .gt_eq(lit(ScalarValue::Date32(Some(days_since_epoch(1900)))))
                            .and(day.lt_eq(datafusion::functions::expr_fn::current_date())),
                        lit("date_of_birth"),
                    )
                    .end()?
                }
                _ => continue,
            };
            let branch = LogicalPlanBuilder::from(input.clone())
                .project(vec![
                    lit(i as i64).alias(ORDINAL),
                    lit(field.name().as_str()).alias(COLUMN),
                    kind.alias(KIND),
                    column.is_not_null().alias(PRESENT),
                ])?
                .build()?;
            branches.push(branch);
        }
        let Some(first) = branches.pop() else {
            return empty();
        };
        let mut unioned = LogicalPlanBuilder::from(first);
        for branch in branches {
            unioned = unioned.union(branch)?;
        }
        let count_when = |condition: Expr| {
            sum(when(condition, lit(1i64))
                .otherwise(lit(0i64))
                .unwrap_or(lit(0i64)))
        };
        let mut aggregates = vec![count_when(col(PRESENT)).alias(NON_NULL)];
        let mut detected_kinds = KINDS.to_vec();
        detected_kinds.push("date_of_birth");
        for k in &detected_kinds {
            aggregates.push(count_when(col(KIND).eq(lit(*k))).alias(*k));
        }
        let counted = unioned
            .aggregate(vec![col(ORDINAL), col(COLUMN)], aggregates)?
            .build()?;
        let matches = greatest(detected_kinds.iter().map(|k| ident(*k)).collect());
        let mut detected = when(matches.clone().eq(lit(0i64)), lit(ScalarValue::Utf8(None)));
        for k in &detected_kinds {
            detected = detected.when(ident(*k).eq(matches.clone()), lit(*k));
        }
        let share_expr = when(col(NON_NULL).eq(lit(0i64)), lit(ScalarValue::Float64(None)))
            .otherwise(
                cast(matches.clone(), DataType::Float64) / cast(col(NON_NULL), DataType::Float64),
            )?;
        LogicalPlanBuilder::from(counted)
            .project(vec![
                (col(ORDINAL) + lit(1i64)).alias(POSITION),
                col(COLUMN),
                col(NON_NULL),
                detected.end()?.alias("detected"),
                matches.alias(MATCHES),
                share_expr.clone().alias("share"),
                when(share_expr.gt_eq(lit(min_share)), lit("pii"))
                    .end()?
                    .alias("proposed_tag"),
            ])?
            .build()
    }
}

/// No candidate column: the answer's columns, no rows.
fn empty() -> Result<LogicalPlan> {
    LogicalPlanBuilder::empty(false)
        .project(vec![
            lit(ScalarValue::Int64(None)).alias(POSITION),
            lit(ScalarValue::Utf8(None)).alias(COLUMN),
            lit(ScalarValue::Int64(None)).alias(NON_NULL),
            lit(ScalarValue::Utf8(None)).alias("detected"),
            lit(ScalarValue::Int64(None)).alias(MATCHES),
            lit(ScalarValue::Float64(None)).alias("share"),
            lit(ScalarValue::Utf8(None)).alias("proposed_tag"),
        ])?
        .build()
}

fn share(v: &ScalarValue) -> std::result::Result<f64, SqlStateError> {
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(Some(s))) if s > 0.0 && s <= 1.0 => Ok(s),
        _ => Err(SqlStateError::arg(
            NAME,
            "min_share",
            "must be a number greater than 0 and at most 1",
            v,
        )),
    }
}

/// Days from 1970-01-01 to January 1st of `year`.
fn days_since_epoch(year: i32) -> i32 {
    (year..1970)
        .map(|y| {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                366
            } else {
                365
            }
        })
        .sum::<i32>()
        .wrapping_neg()
}

/// The kind each text value looks like (NULL for none): the branch
/// label of the scan, not a SQL function of its own.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PiiKind {
    signature: Signature,
}

impl Default for PiiKind {
    fn default() -> Self {
        PiiKind {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PiiKind {
    fn name(&self) -> &str {
        "quarry_pii_kind"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let text = values.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * 4);
        for i in 0..text.len() {
            match (!text.is_null(i)).then(|| kind(text.value(i))).flatten() {
                Some(k) => out.append_value(k),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_offset_of_1900() {
        // 1900-01-01 is 25567 days before 1970-01-01.
        assert_eq!(days_since_epoch(1900), -25567);
    }

    #[test]
    fn min_share_is_checked() {
        assert_eq!(share(&ScalarValue::Float64(Some(0.8))).expect("ok"), 0.8);
        assert!(share(&ScalarValue::Float64(Some(0.0))).is_err());
        assert!(share(&ScalarValue::Int64(Some(2))).is_err());
    }
}
