//! `SELECT * FROM ml_profile(relation)`: one row per column with counts,
//! distinct values, range, moments, quantiles and the most frequent values.
//!
//! Output: name, type, rows, nulls, null_fraction, distinct, min, max, mean,
//! stddev, p01, p25, p50, p75, p99, top_values. Everything is exact: numbers
//! are kept and sorted (quantiles as numpy's/pandas' linear interpolation,
//! stddev with n − 1 as pandas), other values counted per value. min and max
//! are text so that one column holds numbers, text and times alike.
//!
//! Plan: one hidden aggregate per column (`__quarry_profile`, the drift
//! state plus a NULL count; held by the plan, not registered), whose
//! one-row lists are concatenated and unnested, so the relation is read
//! once.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, StructArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, UInt64Type};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions_nested::expr_fn::array_concat;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, DocSection, Documentation, DocumentationBuilder,
    Expr, LogicalPlan, LogicalPlanBuilder, Signature, Volatility, cast, lit,
};
use serde_json::{Value as Json, json};

use crate::error::SqlStateError;
use crate::functions::definition::TableFunctionSpec;
use crate::functions::drift::state::{Either, Sides};
use crate::functions::list_value;
use crate::functions::metrics::Call;
use crate::functions::metrics::state::{MetricState, Sum};
use crate::functions::params::{Args, Params, RELATION};
use crate::functions::relation::{LIST_COLUMN, RelationFunction, list_rows};
use crate::kernels::quantile::quantile_sorted;
use crate::model::schema::FeatureKind;

pub const NAME: &str = "ml_profile";
const AGGREGATE: &str = "__quarry_profile";
/// Most frequent values listed in `top_values`.
pub const TOP_VALUES: usize = 5;

const CALL: Call = Call {
    function: NAME,
    args: &["column"],
};

fn row_fields() -> Fields {
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("nulls", DataType::Int64, false),
        float("null_fraction"),
        Field::new("distinct", DataType::Int64, false),
        Field::new("min", DataType::Utf8, true),
        Field::new("max", DataType::Utf8, true),
        float("mean"),
        float("stddev"),
        float("p01"),
        float("p25"),
        float("p50"),
        float("p75"),
        float("p99"),
        Field::new("top_values", DataType::Utf8, false),
    ])
}

/// A column's profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnProfile {
    pub rows: u64,
    pub nulls: u64,
    pub distinct: u64,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    /// p01, p25, p50, p75, p99.
    pub quantiles: Option<[f64; 5]>,
    pub top: Vec<(Json, u64)>,
}

fn number_text(x: f64) -> String {
    // Whole numbers print without a fraction, as they were stored.
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn number_json(x: f64) -> Json {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Profile of an ascending sample of numbers with `nulls` more rows.
pub fn numeric_profile(sorted: &[f64], nulls: u64) -> ColumnProfile {
    let n = sorted.len();
    let mut runs: Vec<(f64, u64)> = Vec::new();
    for &x in sorted {
        match runs.last_mut() {
            Some((v, c)) if *v == x => *c += 1,
            _ => runs.push((x, 1)),
        }
    }
    let mut profile = ColumnProfile {
        rows: n as u64 + nulls,
        nulls,
        distinct: runs.len() as u64,
        ..Default::default()
    };
    if n == 0 {
        return profile;
    }
    let mut sum = Sum::default();
    for &x in sorted {
        sum.add(x);
    }
    let mean = sum.value() / n as f64;
    let mut squares = Sum::default();
    for &x in sorted {
        squares.add((x - mean) * (x - mean));
    }
    profile.min = Some(number_text(sorted[0]));
    profile.max = Some(number_text(sorted[n - 1]));
    profile.mean = Some(mean);
    profile.stddev = (n > 1).then(|| (squares.value() / (n - 1) as f64).sqrt());
    // The sample is not empty here, so every quantile exists.
    let q = |q| quantile_sorted(sorted, q).unwrap_or(f64::NAN);
    profile.quantiles = Some([0.01, 0.25, 0.5, 0.75, 0.99].map(q));
    runs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)));
    profile.top = runs
        .iter()
        .take(TOP_VALUES)
        .map(|&(v, c)| (number_json(v), c))
        .collect();
    profile
}

/// Profile of ascending raw time values: counts, range and top values, shown
/// as times; no moments or quantiles.
fn time_profile(sorted: &[f64], nulls: u64, t: &DataType) -> ColumnProfile {
    let numbers = numeric_profile(sorted, nulls);
    let ends: Vec<f64> = [sorted.first(), sorted.last()]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let ends = time_texts(&ends, t).unwrap_or_default();
    let top_raw: Vec<f64> = numbers.top.iter().filter_map(|(v, _)| v.as_f64()).collect();
    let top_texts = time_texts(&top_raw, t).unwrap_or_default();
    ColumnProfile {
        rows: numbers.rows,
        nulls: numbers.nulls,
        distinct: numbers.distinct,
        min: ends.first().cloned(),
        max: ends.last().cloned(),
        top: numbers
            .top
            .iter()
            .zip(top_texts)
            .map(|((_, c), text)| (json!(text), *c))
            .collect(),
        ..Default::default()
    }
}

/// Profile of counted values (text, booleans) with `nulls` more rows.
pub fn counted_profile(names: &[String], counts: &[u64], nulls: u64) -> ColumnProfile {
    let present: u64 = counts.iter().sum();
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        counts[b]
            .cmp(&counts[a])
            .then_with(|| names[a].cmp(&names[b]))
    });
    ColumnProfile {
        rows: present + nulls,
        nulls,
        distinct: names.len() as u64,
        min: names.iter().min().cloned(),
        max: names.iter().max().cloned(),
        top: order
            .iter()
            .take(TOP_VALUES)
            .map(|&i| (json!(names[i]), counts[i]))
            .collect(),
        ..Default::default()
    }
}

/// The SQL name of a column type, as `\d` shows it.
pub fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Dictionary(_, v) => sql_type(v),
        other => other.to_string(),
    }
}

/// The hidden aggregate: (value, column name, column type, raw type) → one
/// profile row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ProfileUdaf {
    signature: Signature,
}

impl Default for ProfileUdaf {
    fn default() -> Self {
        ProfileUdaf {
            signature: Signature::any(4, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for ProfileUdaf {
    fn name(&self) -> &str {
        AGGREGATE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(row_fields()),
            true,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let mut fields = Sides::<Either>::fields(args.name);
        fields.push(Arc::new(Field::new(
            format!("{}[nulls]", args.name),
            DataType::UInt64,
            true,
        )));
        Ok(fields)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let numeric = args
            .expr_fields
            .first()
            .is_some_and(|f| f.data_type() == &DataType::Float64);
        Ok(Box::new(ProfileAccumulator {
            name: crate::functions::literal_text(AGGREGATE, &args, 1)?,
            type_name: crate::functions::literal_text(AGGREGATE, &args, 2)?,
            time: crate::functions::literal_text(AGGREGATE, &args, 3)?
                .parse::<DataType>()
                .ok()
                .filter(|t| temporal_raw(t).is_some()),
            values: Sides::lenient(CALL, numeric),
            nulls: 0,
        }))
    }
}

#[derive(Debug)]
struct ProfileAccumulator {
    name: String,
    type_name: String,
    /// The time type of a time column, profiled as raw integers.
    time: Option<DataType>,
    values: Sides<Either>,
    nulls: u64,
}

impl Accumulator for ProfileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.nulls += values[0].logical_null_count() as u64;
        let nan_before = self.values.nan;
        self.values
            .push_side(&values[0], false)
            .map_err(SqlStateError::into_df)?;
        // NaN counts as NULL.
        self.nulls += self.values.nan - nan_before;
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let p = if let (true, Some(t)) = (self.values.numeric, &self.time) {
            time_profile(self.values.sorted().0, self.nulls, t)
        } else if self.values.numeric {
            numeric_profile(self.values.sorted().0, self.nulls)
        } else {
            let counts: Vec<u64> = self.values.counts.iter().map(|c| c[0]).collect();
            counted_profile(&self.values.names, &counts, self.nulls)
        };
        let q = |i: usize| -> ArrayRef {
            Arc::new(Float64Array::from(vec![p.quantiles.map(|q| q[i])]))
        };
        let top = Json::Array(
            p.top
                .iter()
                .map(|(v, c)| json!({ "value": v, "count": c }))
                .collect(),
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.name.as_str()])),
            Arc::new(StringArray::from(vec![self.type_name.as_str()])),
            Arc::new(Int64Array::from(vec![p.rows as i64])),
            Arc::new(Int64Array::from(vec![p.nulls as i64])),
            Arc::new(Float64Array::from(vec![
                (p.rows > 0).then(|| p.nulls as f64 / p.rows as f64),
            ])),
            Arc::new(Int64Array::from(vec![p.distinct as i64])),
            Arc::new(StringArray::from(vec![p.min.clone()])),
            Arc::new(StringArray::from(vec![p.max.clone()])),
            Arc::new(Float64Array::from(vec![p.mean])),
            Arc::new(Float64Array::from(vec![p.stddev])),
            q(0),
            q(1),
            q(2),
            q(3),
            q(4),
            Arc::new(StringArray::from(vec![top.to_string()])),
        ];
        let row = StructArray::try_new(row_fields(), columns, None)?;
        Ok(list_value(Arc::new(row)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut state = self.values.take()?;
        state.push(ScalarValue::UInt64(Some(std::mem::take(&mut self.nulls))));
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, nulls) = states.split_at(states.len() - 1);
        self.values.merge(values)?;
        let nulls = nulls[0].as_primitive_opt::<UInt64Type>().ok_or_else(|| {
            SqlStateError::internal(format!("{AGGREGATE}: NULL count state is not UInt64"))
        })?;
        self.nulls += nulls.iter().flatten().sum::<u64>();
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct ProfileUdtf;

impl TableFunctionSpec for ProfileUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[RELATION]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Data quality", description: None },
            "One row per column of a table or query: name, type, rows, nulls, null_fraction, distinct (exact), min, max (as text, so every type fits one column), mean, stddev (sample, n - 1), p01, p25, p50, p75, p99 (numpy/pandas linear interpolation) and top_values, a JSON array of the 5 most frequent values with their counts. Numbers get every statistic; text, booleans and times get counts, distinct, min, max and top_values. NaN counts as NULL. Columns of other types (lists, structs, binary) are left out. Reads the relation once; exact, so numbers are held in memory (8 bytes per value). Errors: 22023 for a relation that is not a table name or query, or has no column that can be profiled.",
            "SELECT * FROM ml_profile(relation)",
        )
        .with_sql_example(
r#"```sql
> SELECT name, type, nulls, distinct, min, max, round(mean, 2) AS mean FROM ml_profile(customers) WHERE name IN ('age', 'region');
+--------+---------+-------+----------+---------+------+-------+
| name   | type    | nulls | distinct | min     | max  | mean  |
+--------+---------+-------+----------+---------+------+-------+
| age    | integer | 1975  | 70       | 18      | 90   | 38.28 |
| region | text    | 0     | 5        | central | west |       |
+--------+---------+-------+----------+---------+------+-------+
```"#,
        )
    }
}

/// How a column is profiled: numbers as numbers, the rest as text.
fn profiled_expr(column: Expr, t: &DataType) -> Option<Expr> {
    match FeatureKind::of(t)? {
        FeatureKind::Numeric => Some(cast(column, DataType::Float64)),
        // Times are counted and sorted as their raw integer (days, or units
        // since the epoch) and shown as times again: formatting every value
        // as text first would cost far more than the profile.
        FeatureKind::Temporal if temporal_raw(t).is_some() => {
            Some(cast(cast(column, DataType::Int64), DataType::Float64))
        }
        _ => Some(cast(column, DataType::Utf8)),
    }
}

/// The integer type a time type casts to and from without loss, when its
/// values also fit a double exactly (nanoseconds since 1970 do not: they
/// take the text path).
fn temporal_raw(t: &DataType) -> Option<DataType> {
    use datafusion::arrow::datatypes::TimeUnit;
    match t {
        DataType::Date32 => Some(DataType::Int32),
        DataType::Date64 => Some(DataType::Int64),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => None,
        DataType::Timestamp(_, _) => Some(DataType::Int64),
        _ => None,
    }
}

/// Raw time values (as profiled) shown as the time type prints them.
fn time_texts(values: &[f64], t: &DataType) -> Option<Vec<String>> {
    let raw = temporal_raw(t)?;
    let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(
        values.iter().map(|v| *v as i64),
    ));
    use datafusion::arrow::compute::cast as cast_array;
    let times = cast_array(&cast_array(&ints, &raw).ok()?, t).ok()?;
    (0..times.len())
        .map(|i| datafusion::arrow::util::display::array_value_to_string(&times, i).ok())
        .collect()
}

impl RelationFunction for ProfileUdtf {
    fn plan(&self, mut args: Args, _ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        if args.len() != 1 || !args.named.is_empty() {
            return Err(args.usage_error());
        }
        let input = args.relation(0)?;
        let udaf = AggregateUDF::new_from_impl(ProfileUdaf::default());
        let schema = input.schema().clone();
        let mut aggregates = Vec::new();
        for (i, (qualifier, field)) in schema.iter().enumerate() {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let Some(value) = profiled_expr(column, field.data_type()) else {
                continue;
            };
            aggregates.push(
                udaf.call(vec![
                    value,
                    lit(field.name().as_str()),
                    lit(sql_type(field.data_type())),
                    lit(field.data_type().to_string()),
                ])
                .alias(format!("__quarry_p{i}")),
            );
        }
        if aggregates.is_empty() {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: the relation has no column that can be profiled (numbers, text, booleans, times)"
            ))
            .into_df());
        }
        let lists: Vec<Expr> = aggregates
            .iter()
            .map(|a| Expr::Column(Column::new_unqualified(a.schema_name().to_string())))
            .collect();
        let plan = LogicalPlanBuilder::from(input)
            .aggregate(Vec::<Expr>::new(), aggregates)?
            .project(vec![array_concat(lists).alias(LIST_COLUMN)])?;
        let fields: Vec<String> = row_fields().iter().map(|f| f.name().clone()).collect();
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        list_rows(plan, None, &names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_profile_matches_pandas() {
        // pandas.Series([1, 2, 2, 3, 10, None]).describe():
        // count 5, mean 3.6, std 3.646916505762094, min 1, 25% 2, 50% 2, 75% 3, max 10
        let p = numeric_profile(&[1.0, 2.0, 2.0, 3.0, 10.0], 1);
        assert_eq!((p.rows, p.nulls, p.distinct), (6, 1, 4));
        assert_eq!(p.mean, Some(3.6));
        assert!((p.stddev.expect("sd") - 3.646916505762094).abs() < 1e-15);
        let q = p.quantiles.expect("quantiles");
        assert_eq!(&q[1..4], &[2.0, 2.0, 3.0]);
        // numpy.quantile([1, 2, 2, 3, 10], [0.01, 0.99]) == [1.04, 9.72]
        assert!((q[0] - 1.04).abs() < 1e-12 && (q[4] - 9.72).abs() < 1e-12);
        assert_eq!(
            (p.min.as_deref(), p.max.as_deref()),
            (Some("1"), Some("10"))
        );
        assert_eq!(p.top[0], (json!(2), 2));
        let empty = numeric_profile(&[], 3);
        assert_eq!((empty.rows, empty.mean, empty.stddev), (3, None, None));
        assert_eq!(numeric_profile(&[4.5], 0).stddev, None);
    }

    #[test]
    fn counted_profile_orders_by_frequency_then_value() {
        let names = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let p = counted_profile(&names, &[2, 2, 5], 1);
        assert_eq!((p.rows, p.distinct), (10, 3));
        assert_eq!(
            p.top,
            vec![(json!("c"), 5), (json!("a"), 2), (json!("b"), 2)]
        );
        assert_eq!((p.min.as_deref(), p.max.as_deref()), (Some("a"), Some("c")));
    }
}
