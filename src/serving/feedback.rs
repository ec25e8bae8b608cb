//! Ground truth coming back: the managed table `ml_feedback` (users
//! `INSERT` and `COPY` into it) and the function `ml_feedback(model, key,
//! actual [, overridden, note])`, which records rows for applications.
//!
//! A feedback row is about the latest logged prediction of the same model
//! and key made before it (`ml_monitor` joins them so).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;

use crate::catalog::table::TableData;
use crate::error::{SqlStateError, sqlstate};
use crate::registry::Registry;

/// The feedback table's name (schema `public`).
pub const TABLE: &str = "ml_feedback";
pub const NAME: &str = "ml_feedback";

/// The feedback table's columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("actual", DataType::Utf8, true),
        Field::new("overridden", DataType::Boolean, false),
        Field::new("note", DataType::Utf8, true),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
    ]))
}

/// The defaults an `INSERT` that names only some columns gets.
pub fn defaults() -> Vec<(String, Expr)> {
    vec![
        ("overridden".to_string(), datafusion::prelude::lit(false)),
        ("at".to_string(), datafusion::functions::expr_fn::now()),
    ]
}

#[user_doc(
    doc_section(label = "Model monitoring"),
    description = "Records ground truth for predictions: appends one row per call (or per row, given columns) to the table ml_feedback (model, key, actual, overridden, note, at) and commits it before answering, durably, on its own (like nextval, it is not undone by a ROLLBACK). A feedback row is about the latest prediction of the same model and key logged before it. INSERT and COPY into ml_feedback do the same for bulk loads. Returns 'recorded'. Errors: 42704 unknown model; 22023 when model or key is NULL.",
    syntax_example = "ml_feedback(model, key, actual [, overridden [, note]])",
    sql_example = r#"```sql
> SELECT ml_feedback('churn', '100001', 'true', false, 'cancelled by phone');
+-------------+
| ml_feedback |
+-------------+
| recorded    |
+-------------+
```"#,
    argument(name = "model", description = "Model name."),
    argument(
        name = "key",
        description = "Whom the prediction was about: the value of the policy's key column, as text."
    ),
    argument(
        name = "actual",
        description = "What really happened, as text (the label, or the value)."
    ),
    argument(
        name = "overridden",
        description = "Whether a person overrode the model's decision (default false)."
    ),
    argument(name = "note", description = "Free text.")
)]
#[derive(Debug)]
pub struct FeedbackUdf {
    registry: Arc<Registry>,
    table: Arc<OnceLock<Arc<TableData>>>,
    signature: Signature,
}

impl FeedbackUdf {
    pub fn new(registry: Arc<Registry>, table: Arc<OnceLock<Arc<TableData>>>) -> Self {
        let text = DataType::Utf8;
        let variants = [3usize, 4, 5]
            .into_iter()
            .map(|n| {
                let mut args = vec![text.clone(); 3];
                if n >= 4 {
                    args.push(DataType::Boolean);
                }
                if n == 5 {
                    args.push(text.clone());
                }
                TypeSignature::Exact(args)
            })
            .collect();
        FeedbackUdf {
            registry,
            table,
            signature: Signature::one_of(variants, Volatility::Volatile),
        }
    }
}

impl PartialEq for FeedbackUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.registry, &other.registry)
    }
}

impl Eq for FeedbackUdf {}

impl std::hash::Hash for FeedbackUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        NAME.hash(state);
    }
}

impl ScalarUDFImpl for FeedbackUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        // One row per row of the call, constants repeated (the function is
        // volatile: `SELECT ml_feedback(...) FROM t` records a row per row).
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let batch = self.rows(&arrays, rows).map_err(SqlStateError::into_df)?;
        let table = self
            .table
            .get()
            .ok_or_else(|| {
                SqlStateError::new(
                    sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "ml_feedback: the feedback table is still being created for the first model",
                )
                .with_hint("retry in a moment")
                .into_df()
            })?
            .clone();
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            SqlStateError::internal("ml_feedback: no runtime to write with").into_df()
        })?;
        // A small durable write: waited for here, on this worker (the
        // runtime is multi-threaded), so the row is committed before the
        // statement answers.
        tokio::task::block_in_place(|| {
            handle.block_on(async move {
                let mut writer = table.writer()?;
                writer.write(&batch)?;
                table.commit(writer.finish()?, false).await
            })
        })
        .map_err(SqlStateError::into_df)?;
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some("recorded".into())))
        } else {
            ColumnarValue::Array(Arc::new(StringArray::from(vec!["recorded"; rows])))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

impl FeedbackUdf {
    /// The feedback rows of one call, checked.
    fn rows(&self, arrays: &[ArrayRef], rows: usize) -> Result<RecordBatch, SqlStateError> {
        let text = |i: usize, what: &str| -> Result<ArrayRef, SqlStateError> {
            let a = cast(&arrays[i], &DataType::Utf8).map_err(SqlStateError::internal)?;
            if what != "actual" && what != "note" && a.null_count() > 0 {
                return Err(SqlStateError::arg(NAME, what, "must not be NULL", "NULL"));
            }
            Ok(a)
        };
        let models = text(0, "model")?;
        let names: Vec<String> = {
            let m = models.as_string::<i32>();
            (0..m.len())
                .map(|i| crate::registry::normalize(m.value(i)))
                .collect()
        };
        let mut checked: Vec<&String> = names.iter().collect();
        checked.sort();
        checked.dedup();
        for name in checked {
            if !self.registry.model_exists(name)? {
                return Err(SqlStateError::new(
                    sqlstate::UNDEFINED_OBJECT,
                    format!("{NAME}: model \"{name}\" does not exist"),
                )
                .with_hint("SHOW MODELS lists the models"));
            }
        }
        let overridden: ArrayRef = match arrays.get(3) {
            Some(a) => {
                let b = a.as_boolean();
                Arc::new(BooleanArray::from_iter(
                    (0..b.len()).map(|i| Some(b.is_valid(i) && b.value(i))),
                ))
            }
            None => Arc::new(BooleanArray::from(vec![false; rows])),
        };
        let note = match arrays.get(4) {
            Some(_) => text(4, "note")?,
            None => Arc::new(StringArray::new_null(rows)),
        };
        let at = crate::serving::log::now_us();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(StringArray::from(names)),
                text(1, "key")?,
                text(2, "actual")?,
                overridden,
                note,
                Arc::new(TimestampMicrosecondArray::from(vec![at; rows]).with_timezone("+00:00")),
            ],
        )
        .map_err(SqlStateError::internal)
    }
}
