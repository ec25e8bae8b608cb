//! `SELECT * FROM ml_reviews_due([as_of])`: models whose yearly review is
//! due (`registry::documentation`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder, Expr};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use crate::access::Privilege;
use crate::error::SqlStateError;
use crate::registry::{Registry, documentation};

pub const NAME: &str = "ml_reviews_due";

#[derive(Debug)]
pub struct ReviewsDueUdtf {
    registry: Arc<Registry>,
}

impl ReviewsDueUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        ReviewsDueUdtf { registry }
    }
}

impl TableFunctionSpec for ReviewsDueUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[Param::value(
        "as_of",
        "Optional text: an ISO 8601 time ('2027-01-31' or '2027-01-31T12:00:00Z'); now without one.",
    )
    .optional()]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model documentation", description: None },
            "The models whose review is overdue: due one year after their last review (ml_review), or one year after they were created when never reviewed, at or before as_of (now by default). Columns: model, last_reviewed_at, last_reviewed_by (NULL when never reviewed), review_due_at, days_overdue; most overdue first. Lists the models the caller holds PREDICT on. Errors: 22023 when as_of is not text.",
            "SELECT * FROM ml_reviews_due([as_of])",
        )
        .with_sql_example(
r#"```sql
> SELECT model, last_reviewed_by FROM ml_reviews_due('2099-01-01') WHERE model = 'churn';
+-------+------------------+
| model | last_reviewed_by |
+-------+------------------+
| churn |                  |
+-------+------------------+
```"#,
        )
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("last_reviewed_at", DataType::Utf8, true),
        Field::new("last_reviewed_by", DataType::Utf8, true),
        Field::new("review_due_at", DataType::Utf8, false),
        Field::new("days_overdue", DataType::Float64, false),
    ]))
}

/// `as_of` as the store compares times: a bare date is its midnight UTC.
fn as_of_time(text: &str) -> Result<String, SqlStateError> {
    let t = text.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            SqlStateError::bad_argument(format!(
                "{NAME}: as_of must be an ISO 8601 date or time, got '{text}'"
            ))
        })?;
    Ok(parsed.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

impl TableFunctionImpl for ReviewsDueUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let as_of = match args.exprs() {
            [] => None,
            [Expr::Literal(v, _)] => Some(
                super::text(v)
                    .ok_or_else(|| {
                        SqlStateError::bad_argument(format!("{NAME}: as_of must be text"))
                    })
                    .and_then(|t| as_of_time(&t))
                    .map_err(SqlStateError::into_df)?,
            ),
            _ => {
                return Err(SqlStateError::bad_argument(format!(
                    "{NAME}: expected ([as_of]), a text literal"
                ))
                .into_df());
            }
        };
        let config = args.session().config_options();
        let due = self
            .registry
            .store()
            .with_conn(|c| Ok(documentation::due(c, as_of.as_deref())))
            .and_then(|r| r)
            .map_err(SqlStateError::into_df)?;
        let due: Vec<_> = due
            .into_iter()
            .filter(|d| crate::access::require_model(config, &d.model, Privilege::Predict).is_ok())
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(due.iter().map(|d| &d.model))),
            Arc::new(StringArray::from_iter(
                due.iter().map(|d| d.last_reviewed_at.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                due.iter().map(|d| d.last_reviewed_by.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                due.iter().map(|d| &d.review_due_at),
            )),
            Arc::new(Float64Array::from_iter_values(
                due.iter().map(|d| (d.days_overdue * 100.0).round() / 100.0),
            )),
        ];
        let batch = RecordBatch::try_new(schema(), columns)
            .map_err(|e| SqlStateError::internal(e).into_df())?;
        Ok(Arc::new(MemTable::try_new(schema(), vec![vec![batch]])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_reads_dates_and_times() {
        assert_eq!(
            as_of_time("2027-01-31").expect("ok"),
            "2027-01-31T00:00:00.000Z"
        );
        assert_eq!(
            as_of_time("2027-01-31T12:30:00+02:00").expect("ok"),
            "2027-01-31T10:30:00.000Z"
        );
        assert!(as_of_time("soon").is_err());
    }
}
