//! `SELECT * FROM ml_train(name, relation, options_json)`: the function form
//! of `CREATE MODEL`. Options are a JSON object, parsed strictly: the same keys
//! as `CREATE MODEL ... OPTIONS`, values as strings, numbers or booleans.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{DocSection, Documentation, DocumentationBuilder};
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::params::{Param, Params};

use super::{relation_query, session_state, text_arg};
use crate::error::SqlStateError;
use crate::registry::Registry;
use crate::registry::training::{self, TrainRequest};

pub const NAME: &str = "ml_train";

/// The `ml_train` table function.
#[derive(Debug)]
pub struct TrainUdtf {
    registry: Arc<Registry>,
}

impl TrainUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        TrainUdtf { registry }
    }
}

impl TableFunctionSpec for TrainUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        Param::value(
            "name",
            "Model name; training an existing name adds a version.",
        ),
        Param::relation(
            "relation",
            "A table name, a parenthesized subquery, or text holding a table name or a query starting with SELECT or WITH.",
        ),
        Param::value(
            "options_json",
            "A JSON object of training options, e.g. {\"algorithm\": \"logistic\", \"label\": \"churned\"}.",
        ),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model registry", description: None },
            "Trains a model on a table or query and registers it as the next version of its name; the function form of CREATE MODEL. Returns one row: model, version, task, algorithm, train_rows, test_rows, metrics (JSON), params (JSON), seconds, warnings (JSON, e.g. possible leakage). Errors: 22023 for unknown options or bad values (the message lists the valid options), 42703 for an unknown label or feature column, 22000 when the data cannot train (e.g. a single class), 53200 when the rows exceed the memory limit, 57014 when cancelled.",
            "SELECT * FROM ml_train(name, relation, options_json)",
        )
        .with_sql_example(
r#"```sql
> SELECT model, version, algorithm, train_rows, test_rows FROM ml_train('churn', 'customers',
    '{"algorithm": "logistic", "label": "churned", "exclude": "customer_id"}');
+-------+---------+-----------+------------+-----------+
| model | version | algorithm | train_rows | test_rows |
+-------+---------+-----------+------------+-----------+
| churn | 2       | logistic  | 40000      | 10000     |
+-------+---------+-----------+------------+-----------+
```"#,
        )
    }
}

/// Parses the options object: string, number and boolean values only.
pub fn parse_options(json: &str) -> std::result::Result<BTreeMap<String, String>, SqlStateError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        SqlStateError::bad_argument(format!("{NAME}: options_json is not valid JSON: {e}"))
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(SqlStateError::bad_argument(format!(
            "{NAME}: options_json must be a JSON object, e.g. {{\"algorithm\": \"logistic\", \"label\": \"churned\"}}"
        )));
    };
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => {
                    return Err(SqlStateError::bad_argument(format!(
                        "{NAME}: option {k} must be a string, number, boolean or list, got {other}"
                    )));
                }
            };
            Ok((k, text))
        })
        .collect()
}

impl TableFunctionImpl for TrainUdtf {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() != 3 {
            return Err(SqlStateError::bad_argument(format!(
                "{NAME}: expected (name, relation, options_json), got {} arguments",
                exprs.len()
            ))
            .into_df());
        }
        let name = text_arg(NAME, exprs, 0, "name").map_err(SqlStateError::into_df)?;
        let relation = text_arg(NAME, exprs, 1, "relation").map_err(SqlStateError::into_df)?;
        let options = parse_options(
            &text_arg(NAME, exprs, 2, "options_json").map_err(SqlStateError::into_df)?,
        )
        .map_err(SqlStateError::into_df)?;
        // Validate options at plan time, before any data is read.
        quarry_udfs::model::TrainOptions::parse(&options).map_err(SqlStateError::into_df)?;
        let query = relation_query(NAME, 1, &relation).map_err(SqlStateError::into_df)?;
        let state = session_state(&args)?;
        crate::access::require_training(state.config_options(), &self.registry, &name)
            .map_err(SqlStateError::into_df)?;
        let user = quarry_udfs::session_info::user(state.config_options());
        let request = TrainRequest {
            name,
            replace: false,
            options,
            query,
            user,
            trigger: Some("ml_train"),
        };
        let registry = self.registry.clone();
        // Trains when executed, never at planning (so EXPLAIN does not train).
        super::at_execution(
            training::result_schema(),
            Arc::new(move || {
                let (registry, state, request) = (registry.clone(), state.clone(), request.clone());
                Box::pin(async move {
                    let plan = crate::complexity::plan(&state, &request.query).await?;
                    training::run(&registry, &state, plan, request, None).await
                })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_json_is_strict() {
        let o = parse_options(r#"{"algorithm": "logistic", "l2": 0.5, "exclude": ["a", "b"]}"#)
            .expect("valid");
        assert_eq!(o["l2"], "0.5");
        assert_eq!(o["exclude"], "a,b");
        assert!(parse_options("[1, 2]").is_err());
        assert!(parse_options("{not json").is_err());
        assert!(parse_options(r#"{"split": {"kind": "random"}}"#).is_err());
    }
}
