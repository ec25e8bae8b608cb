//! Shared machinery of the scoring functions: the model argument, pinning it
//! to a version at plan time, and matching arguments to features by name.

pub mod explain;
pub mod feature_importance;
pub mod predict;
pub mod predict_interval;
pub mod predict_proba;
pub mod predict_table;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StructArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::simplify::ExprSimplifyResult;
use datafusion::logical_expr::{ColumnarValue, Expr, lit};

use crate::error::SqlStateError;
use crate::model::{FeatureKind, LoadedModel, ModelRef, ModelStore};

/// The model reference of a call, which must be a text literal.
pub fn model_reference(function: &str, arg: Option<&ScalarValue>) -> Result<String, SqlStateError> {
    match arg {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
        ) => Ok(s.clone()),
        Some(
            ScalarValue::Utf8(None) | ScalarValue::Utf8View(None) | ScalarValue::LargeUtf8(None),
        ) => Err(SqlStateError::bad_argument(format!(
            "{function}: model must not be NULL"
        ))),
        _ => Err(SqlStateError::bad_argument(format!(
            "{function}: the first argument must be the model name as a text literal, e.g. {function}('churn', ...)"
        ))),
    }
}

/// Resolves and loads the model named by a call.
pub fn load(
    store: &dyn ModelStore,
    function: &str,
    arg: Option<&ScalarValue>,
) -> Result<Arc<LoadedModel>, SqlStateError> {
    let reference = model_reference(function, arg)?;
    let model = store.resolve(&reference)?;
    store.load(&model)
}

/// The input names a call provides: its argument field names, or the field
/// names of a single struct argument.
fn provided(arg_fields: &[FieldRef]) -> Vec<String> {
    match arg_fields {
        [single] if matches!(single.data_type(), DataType::Struct(_)) => match single.data_type() {
            DataType::Struct(fields) => fields.iter().map(|f| f.name().clone()).collect(),
            _ => vec![],
        },
        _ => arg_fields.iter().map(|f| f.name().clone()).collect(),
    }
}

/// For each model feature, the position of the matching input. Errors list
/// what is missing and what is unknown.
pub fn bind(
    function: &str,
    model: &LoadedModel,
    arg_fields: &[FieldRef],
) -> Result<Vec<usize>, SqlStateError> {
    let given = provided(arg_fields);
    let wanted: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
    let find = |name: &str| {
        given
            .iter()
            .position(|g| g == name)
            .or_else(|| given.iter().position(|g| g.eq_ignore_ascii_case(name)))
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| find(w).is_none())
        .collect();
    let unknown: Vec<&str> = given
        .iter()
        .map(String::as_str)
        .filter(|g| !wanted.iter().any(|w| w.eq_ignore_ascii_case(g)))
        .collect();
    if !missing.is_empty() || !unknown.is_empty() {
        let mut msg = format!(
            "{function}: model {}@{} takes features ({})",
            model.name,
            model.version,
            wanted.join(", ")
        );
        if !missing.is_empty() {
            msg.push_str(&format!("; missing: {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            msg.push_str(&format!(
                "; not features of the model: {}",
                unknown.join(", ")
            ));
        }
        return Err(SqlStateError::bad_argument(msg).with_hint(format!(
            "pass the feature columns by name, or rename expressions with struct(expr AS name, ...); \
             SELECT * FROM {function}('{}', 'table') scores every column of a table",
            model.name
        )));
    }
    let order: Vec<usize> = wanted.iter().filter_map(|w| find(w)).collect();
    let types = provided_types(arg_fields);
    for (feature, &i) in model.features().iter().zip(&order) {
        if let Some(t) = types.get(i)
            && !accepts(feature.kind, t)
        {
            return Err(SqlStateError::new(
                crate::error::sqlstate::DATATYPE_MISMATCH,
                format!(
                    "{function}: feature {} of model {}@{} is {} ({}), got {t}",
                    feature.name,
                    model.name,
                    model.version,
                    feature.kind.name(),
                    feature.data_type
                ),
            ));
        }
    }
    Ok(order)
}

fn provided_types(arg_fields: &[FieldRef]) -> Vec<DataType> {
    match arg_fields {
        [single] if matches!(single.data_type(), DataType::Struct(_)) => match single.data_type() {
            DataType::Struct(fields) => fields.iter().map(|f| f.data_type().clone()).collect(),
            _ => vec![],
        },
        _ => arg_fields.iter().map(|f| f.data_type().clone()).collect(),
    }
}

/// Whether a value of type `t` can feed a feature of `kind`: numbers for
/// numbers, text or integers for categories (codes stored as integers are
/// common), booleans for booleans, dates and timestamps for time; NULL for any.
fn accepts(kind: FeatureKind, t: &DataType) -> bool {
    use DataType::*;
    let is = |k: FeatureKind| FeatureKind::of(t) == Some(k);
    matches!(t, Null)
        || match kind {
            FeatureKind::Numeric => is(FeatureKind::Numeric) || is(FeatureKind::Boolean),
            FeatureKind::Boolean => is(FeatureKind::Boolean),
            FeatureKind::Categorical => {
                is(FeatureKind::Categorical)
                    || is(FeatureKind::Boolean)
                    || matches!(
                        t,
                        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
                    )
            }
            FeatureKind::Temporal => is(FeatureKind::Temporal),
        }
}

/// The feature arrays of one batch in model order.
pub fn feature_arrays(
    args: &[ColumnarValue],
    arg_fields: &[FieldRef],
    order: &[usize],
    rows: usize,
) -> DfResult<Vec<ArrayRef>> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let inputs: Vec<ArrayRef> = match (arrays.as_slice(), arg_fields) {
        ([single], [field]) if matches!(field.data_type(), DataType::Struct(_)) => {
            let s = single
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal("struct expected".into())
                })?;
            s.columns().to_vec()
        }
        _ => arrays,
    };
    Ok(order
        .iter()
        .map(|&i| {
            let a = inputs[i].clone();
            if a.len() == rows {
                a
            } else {
                a.slice(0, rows.min(a.len()))
            }
        })
        .collect())
}

/// Rewrites an unpinned model reference to `name@version`, so the whole query
/// scores with the version current when it was planned.
pub fn pin(store: &dyn ModelStore, mut args: Vec<Expr>) -> DfResult<ExprSimplifyResult> {
    let Some(Expr::Literal(value, _)) = args.first() else {
        return Ok(ExprSimplifyResult::Original(args));
    };
    let reference = match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => s.clone(),
        _ => return Ok(ExprSimplifyResult::Original(args)),
    };
    if ModelRef::parse_pinned(&reference).is_some() {
        return Ok(ExprSimplifyResult::Original(args));
    }
    let pinned = store.resolve(&reference).map_err(SqlStateError::into_df)?;
    let keep_type = matches!(value, ScalarValue::Utf8View(_));
    args[0] = if keep_type {
        lit(ScalarValue::Utf8View(Some(pinned.to_string())))
    } else {
        lit(pinned.to_string())
    };
    Ok(ExprSimplifyResult::Original(args))
}
