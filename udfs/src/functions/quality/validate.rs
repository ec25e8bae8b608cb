//! `SELECT * FROM ml_validate(relation, rule [, rule ...])`: how many rows
//! break each rule, with a few of them to look at.
//!
//! Output: rule, total_rows, failing_rows, passed, sample (a JSON array of
//! at most 5 failing rows). A rule is a SQL boolean expression over the
//! relation's columns (`'age BETWEEN 0 AND 120'`); a row fails when it is
//! false, and passes when it is true or NULL, as in a CHECK constraint (write
//! `'email IS NOT NULL'` to forbid NULLs). `'unique(col, ...)'` fails every
//! row whose key occurs more than once (keys with a NULL are not compared, as
//! in a UNIQUE constraint); its sample lists duplicated keys with their counts.
//!
//! Plan: the expression rules are counted in one aggregate over the relation
//! (`count(*) FILTER (WHERE NOT rule)` each, and the hidden
//! `__quarry_sample` for the rows, held by the plan, not registered); each
//! unique rule groups by its key. The
//! per-rule one-row results are joined and their lists concatenated in the
//! order the rules were given, then unnested.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::functions_nested::expr_fn::{array_concat, make_array};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, DocSection, Documentation, DocumentationBuilder,
    Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, Signature, Volatility, cast, col, lit,
};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde_json::{Map, Value as Json};

use crate::error::{SqlStateError, sqlstate};
use crate::functions::definition::TableFunctionSpec;
use crate::functions::list_value;
use crate::functions::params::Arg;
use crate::functions::params::{Args, Param, Params, RELATION};
use crate::functions::relation::{LIST_COLUMN, RelationFunction, find_column, list_rows};

pub const NAME: &str = "ml_validate";
const SAMPLE: &str = "__quarry_sample";
/// Failing rows kept per rule.
pub const SAMPLE_ROWS: usize = 5;

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
enum Rule {
    Check(Box<ast::Expr>),
    Unique(Vec<ast::Ident>),
}

fn parse_rule(text: &str) -> Result<Rule, SqlStateError> {
    let bad = |e: String| {
        let e = e
            .strip_prefix("sql parser error: ")
            .unwrap_or(&e)
            .to_string();
        SqlStateError::new(
            sqlstate::SYNTAX_ERROR,
            format!(
                "{NAME}: rule '{text}' is not a SQL boolean expression or unique(col, ...): {e}"
            ),
        )
    };
    let expr = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| bad(e.to_string()))?;
    if let ast::Expr::Function(f) = &expr
        && f.name.to_string().eq_ignore_ascii_case("unique")
    {
        let ast::FunctionArguments::List(list) = &f.args else {
            return Err(bad("unique needs at least one column".into()));
        };
        let mut columns = Vec::new();
        for arg in &list.args {
            match arg {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Identifier(i))) => {
                    columns.push(i.clone())
                }
                other => return Err(bad(format!("unique takes column names, got {other}"))),
            }
        }
        if columns.is_empty() {
            return Err(bad("unique needs at least one column".into()));
        }
        return Ok(Rule::Unique(columns));
    }
    Ok(Rule::Check(Box::new(expr)))
}

fn rule_text(function: &str, expr: &Expr, position: usize) -> Result<String, SqlStateError> {
    crate::functions::params::text_literal(expr).map(str::to_string).ok_or_else(|| {
        SqlStateError::bad_argument(format!(
            "{function}: argument {position} (rule) must be text holding a SQL condition, got {expr}"
        ))
    })
}

/// The hidden aggregate keeping the first few rows it sees, as JSON objects:
/// (column names as a JSON array literal, values...) → JSON array text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SampleUdaf {
    signature: Signature,
}

impl Default for SampleUdaf {
    fn default() -> Self {
        SampleUdaf {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for SampleUdaf {
    fn name(&self) -> &str {
        SAMPLE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[rows]", args.name),
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let names: Vec<String> = serde_json::from_str(&crate::functions::literal_text(
            SAMPLE, &args, 0,
        )?)
        .map_err(|e| SqlStateError::internal(format!("{SAMPLE}: bad names: {e}")).into_df())?;
        Ok(Box::new(SampleAccumulator {
            names,
            rows: Vec::new(),
        }))
    }
}

#[derive(Debug)]
struct SampleAccumulator {
    names: Vec<String>,
    rows: Vec<String>,
}

/// A cell as JSON: numbers and booleans as themselves, the rest as text
/// formatted as Arrow displays it (times in ISO 8601).
fn json_cell(column: &ArrayRef, row: usize) -> Result<Json> {
    let value = ScalarValue::try_from_array(column, row)?;
    Ok(match json_value(&value) {
        Some(v) => v,
        None => Json::String(datafusion::arrow::util::display::array_value_to_string(
            column, row,
        )?),
    })
}

/// Numbers, booleans, text and NULL as JSON; `None` for other types.
fn json_value(value: &ScalarValue) -> Option<Json> {
    if value.is_null() {
        return Some(Json::Null);
    }
    Some(match value {
        ScalarValue::Boolean(Some(b)) => Json::Bool(*b),
        ScalarValue::Int8(Some(v)) => (*v).into(),
        ScalarValue::Int16(Some(v)) => (*v).into(),
        ScalarValue::Int32(Some(v)) => (*v).into(),
        ScalarValue::Int64(Some(v)) => (*v).into(),
        ScalarValue::UInt8(Some(v)) => (*v).into(),
        ScalarValue::UInt16(Some(v)) => (*v).into(),
        ScalarValue::UInt32(Some(v)) => (*v).into(),
        ScalarValue::UInt64(Some(v)) => (*v).into(),
        ScalarValue::Float32(Some(v)) => {
            serde_json::Number::from_f64(f64::from(*v)).map_or(Json::Null, Json::Number)
        }
        ScalarValue::Float64(Some(v)) => serde_json::Number::from_f64(*v)
            .map_or_else(|| Json::String(v.to_string()), Json::Number),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Json::String(s.clone()),
        _ => return None,
    })
}

impl Accumulator for SampleAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let columns = &values[1..];
        let rows = columns.first().map_or(0, |c| c.len());
        for row in 0..rows {
            if self.rows.len() >= SAMPLE_ROWS {
                break;
            }
            let mut object = Map::new();
            for (name, column) in self.names.iter().zip(columns) {
                object.insert(name.clone(), json_cell(column, row)?);
            }
            self.rows.push(Json::Object(object).to_string());
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(Some(format!(
            "[{}]",
            self.rows.join(",")
        ))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows.iter().map(|r| r.capacity()).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let rows = std::mem::take(&mut self.rows);
        Ok(vec![list_value(Arc::new(StringArray::from(rows)))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(list) = states[0].as_list_opt::<i32>() else {
            return Err(SqlStateError::internal(format!("{SAMPLE}: bad state")).into_df());
        };
        for r in 0..list.len() {
            let values = list.value(r);
            let Some(texts) = values.as_string_opt::<i32>() else {
                continue;
            };
            for text in texts.iter().flatten() {
                if self.rows.len() < SAMPLE_ROWS {
                    self.rows.push(text.to_string());
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct ValidateUdtf;

impl TableFunctionSpec for ValidateUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        RELATION,
        Param::value(
            "rule",
            "Text: a SQL boolean expression over the relation's columns, or unique(col, ...). Any number of rules.",
        )
        .repeated(),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Data quality", description: None },
            "Checks rules against every row of a table or query: one output row per rule, in the order given, with rule, total_rows, failing_rows, passed (no failing row) and sample, a JSON array of at most 5 failing rows. A rule is a SQL boolean expression over the relation's columns ('age BETWEEN 0 AND 120', 'email LIKE ''%@%''', 'end_date >= start_date'): a row fails when the expression is false; true or NULL passes, as in a CHECK constraint, so write 'x IS NOT NULL' to forbid NULLs. 'unique(col, ...)' fails every row whose key occurs more than once (keys with a NULL are not compared, as in a UNIQUE constraint); its sample lists duplicated keys with a count. The expression rules are checked in one pass over the relation. Errors: 42601 for a rule that does not parse; 22023 for a rule that is not text, or no rule; 42703 for an unknown column; 42804 for a rule that is not boolean.",
            "SELECT * FROM ml_validate(relation, rule [, rule ...])",
        )
        .with_sql_example(
r#"```sql
> SELECT rule, total_rows, failing_rows, passed FROM ml_validate(customers, 'age BETWEEN 18 AND 90', 'gender IS NOT NULL', 'unique(customer_id)');
+-----------------------+------------+--------------+--------+
| rule                  | total_rows | failing_rows | passed |
+-----------------------+------------+--------------+--------+
| age BETWEEN 18 AND 90 | 50000      | 0            | t      |
| gender IS NOT NULL    | 50000      | 3940         | f      |
| unique(customer_id)   | 50000      | 0            | t      |
+-----------------------+------------+--------------+--------+
```"#,
        )
    }
}

/// The one-element list of a rule's result row, named by the rule's position.
fn result_row(ordinal: usize, rule: &str, total: Expr, failing: Expr, sample: Expr) -> Expr {
    make_array(vec![named_struct(vec![
        lit("rule"),
        lit(rule),
        lit("total_rows"),
        cast(total, DataType::Int64),
        lit("failing_rows"),
        cast(failing.clone(), DataType::Int64),
        lit("passed"),
        cast(failing, DataType::Int64).eq(lit(0i64)),
        lit("sample"),
        sample,
    ])])
    .alias(rule_column(ordinal))
}

fn rule_column(ordinal: usize) -> String {
    format!("__quarry_rule{ordinal}")
}

impl ValidateUdtf {
    fn sample_call(names: &[String], values: Vec<Expr>) -> Expr {
        let udaf = AggregateUDF::new_from_impl(SampleUdaf::default());
        let names = Json::from(names.to_vec()).to_string();
        udaf.call(std::iter::once(lit(names)).chain(values).collect())
    }

    /// One row per expression rule, from one aggregate over the relation.
    fn checks(
        ctx: &mut dyn RelationPlannerContext,
        input: &LogicalPlan,
        rules: &[(usize, String, ast::Expr)],
    ) -> Result<LogicalPlan> {
        let schema: DFSchema = input.schema().as_ref().clone();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let columns: Vec<Expr> = schema
            .iter()
            .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
            .collect();
        let mut aggregates = vec![count(lit(1)).alias("__quarry_total")];
        let mut rows = Vec::new();
        for (k, (ordinal, text, expr)) in rules.iter().enumerate() {
            let condition = ctx.sql_to_expr(expr.clone(), &schema)?;
            let data_type = datafusion::logical_expr::ExprSchemable::get_type(&condition, &schema)?;
            if !matches!(data_type, DataType::Boolean | DataType::Null) {
                return Err(SqlStateError::new(
                    sqlstate::DATATYPE_MISMATCH,
                    format!(
                        "{NAME}: rule '{text}' must be a boolean condition, it gives {data_type}"
                    ),
                )
                .into_df());
            }
            // A filter keeps rows where it is true: NOT rule is true exactly
            // when the rule is false (NULL stays NULL and passes).
            let fails = Expr::Not(Box::new(condition));
            let failing = format!("__quarry_failing{k}");
            let sample = format!("__quarry_sample{k}");
            aggregates.push(count(lit(1)).filter(fails.clone()).build()?.alias(&failing));
            aggregates.push(
                Self::sample_call(&names, columns.clone())
                    .filter(fails)
                    .build()?
                    .alias(&sample),
            );
            rows.push(result_row(
                *ordinal,
                text,
                col("__quarry_total"),
                col(failing),
                col(sample),
            ));
        }
        LogicalPlanBuilder::from(input.clone())
            .aggregate(Vec::<Expr>::new(), aggregates)?
            .project(rows)?
            .build()
    }

    /// The row of a unique rule.
    fn unique(
        ctx: &mut dyn RelationPlannerContext,
        input: &LogicalPlan,
        ordinal: usize,
        text: &str,
        key: &[ast::Ident],
    ) -> Result<LogicalPlan> {
        let mut keys = Vec::new();
        let mut names = Vec::new();
        for ident in key {
            let name = ctx.normalize_ident(ident.clone());
            let column = find_column(input, &name).ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::UNDEFINED_COLUMN,
                    format!("{NAME}: rule '{text}': the relation has no column {name}"),
                )
                .into_df()
            })?;
            keys.push(column.alias(format!("__quarry_k{}", keys.len())));
            names.push(name);
        }
        let key_columns: Vec<Expr> = (0..keys.len())
            .map(|i| col(format!("__quarry_k{i}")))
            .collect();
        let comparable = key_columns
            .iter()
            .map(|k| k.clone().is_not_null())
            .reduce(Expr::and)
            .unwrap_or(lit(true));
        let duplicated = col("__quarry_n").gt(lit(1i64)).and(comparable);
        let mut sample_names = names.clone();
        sample_names.push("count".into());
        let mut sample_values = key_columns.clone();
        sample_values.push(col("__quarry_n"));
        let sample = Self::sample_call(&sample_names, sample_values)
            .filter(duplicated.clone())
            .build()?;
        let failing = sum(col("__quarry_n")).filter(duplicated).build()?;
        let row = result_row(
            ordinal,
            text,
            Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                datafusion::functions::core::coalesce(),
                vec![sum(col("__quarry_n")), lit(0i64)],
            )),
            Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                datafusion::functions::core::coalesce(),
                vec![failing, lit(0i64)],
            )),
            sample,
        );
        LogicalPlanBuilder::from(input.clone())
            .project(keys)?
            .aggregate(key_columns.clone(), vec![count(lit(1)).alias("__quarry_n")])?
            .aggregate(Vec::<Expr>::new(), vec![row])?
            .build()
    }
}

impl RelationFunction for ValidateUdtf {
    fn plan(&self, mut args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        if !args.named.is_empty() {
            return Err(args.usage_error());
        }
        let input = args.relation(0)?;
        let rules: Vec<Option<Arg>> = (1..args.len()).map(|i| args.take(i)).collect();
        let mut checks = Vec::new();
        let mut plans = Vec::new();
        let mut rule_count = 0;
        for (i, arg) in rules.into_iter().enumerate() {
            rule_count += 1;
            let Some(Arg::Value(expr)) = arg else {
                return Err(
                    SqlStateError::bad_argument(format!("{NAME}: rules must be text")).into_df(),
                );
            };
            let text = rule_text(NAME, &expr, i + 2).map_err(SqlStateError::into_df)?;
            match parse_rule(&text).map_err(SqlStateError::into_df)? {
                Rule::Check(e) => checks.push((i, text, *e)),
                Rule::Unique(key) => plans.push(Self::unique(ctx, &input, i, &text, &key)?),
            }
        }
        if checks.is_empty() && plans.is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: give at least one rule, e.g. 'age BETWEEN 0 AND 120' or 'unique(id)'"
            ))
            .into_df());
        }
        if !checks.is_empty() {
            plans.insert(0, Self::checks(ctx, &input, &checks)?);
        }
        // One row holding every rule's list, concatenated in rule order.
        let mut plans = plans.into_iter();
        let mut builder = LogicalPlanBuilder::from(
            plans
                .next()
                .ok_or_else(|| SqlStateError::internal("no plan").into_df())?,
        );
        for plan in plans {
            builder = builder.cross_join(plan)?;
        }
        let lists: Vec<Expr> = (0..rule_count).map(|i| col(rule_column(i))).collect();
        let plan = builder.project(vec![array_concat(lists).alias(LIST_COLUMN)])?;
        list_rows(
            plan,
            None,
            &["rule", "total_rows", "failing_rows", "passed", "sample"],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_as_checks_or_unique_keys() {
        assert!(matches!(
            parse_rule("age BETWEEN 0 AND 120"),
            Ok(Rule::Check(_))
        ));
        assert!(matches!(
            parse_rule("email IS NOT NULL"),
            Ok(Rule::Check(_))
        ));
        match parse_rule("unique(id, Region)") {
            Ok(Rule::Unique(cols)) => assert_eq!(cols.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(parse_rule("unique()").is_err());
        assert!(parse_rule("unique(id + 1)").is_err());
        assert!(parse_rule("age >").is_err());
        assert!(parse_rule("a = 1; DROP TABLE t").is_err());
    }
}
