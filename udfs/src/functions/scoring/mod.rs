//! Scoring: the model-bound scalars `ml_predict`, `ml_predict_proba` and
//! `ml_predict_interval`, the table functions `ml_predict`, `ml_explain` and
//! `ml_feature_importance`, and what they share.
//!
//! A model-bound scalar is one [`ModelOutput`] (its name, docs, result type
//! and how a batch is scored) inside the generic [`ModelUdf`], which does the
//! rest once: the model argument must be a text literal, it is pinned to a
//! version when the query is planned ([`pin`]), and the other arguments are
//! matched to the model's features by name ([`bind`]).

pub mod explain;
pub mod feature_importance;
pub mod fence;
mod field_of;
pub mod predict;
pub mod predict_arm;
pub mod predict_interval;
pub mod predict_proba;
pub mod predict_table;
pub mod reason_codes;

use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

use super::definition::Definition;
use super::params::Param;
use super::relation::find_column;
use crate::Services;
use crate::control::{Control, Stop};
use crate::error::SqlStateError;
use crate::model::route::Route;
use crate::model::serving::{KEY_ARG, LogPolicy, PredictionSink, Scored};
use crate::model::{Feature, FeatureKind, LoadedModel, ModelRef, ModelStore};

/// The scalars that score with the model their first argument names: those
/// users call and the hidden ones the table functions plan. The privilege
/// check (PREDICT) and the scoring fence find scoring by these names.
pub const MODEL_SCALARS: &[&str] = &[
    predict::NAME,
    predict_proba::NAME,
    predict_interval::NAME,
    predict_table::ROW_FUNCTION,
    explain::ROW_FUNCTION,
    reason_codes::ROW_FUNCTION,
];

/// The scoring functions.
pub fn functions() -> Vec<Definition<Services>> {
    vec![
        scalar::<predict::PredictUdf>(),
        scalar::<predict_proba::PredictProbaUdf>(),
        scalar::<predict_interval::PredictIntervalUdf>(),
        Definition::model_scalar(predict_arm::NAME, predict_arm::PredictArmUdf::new),
        Definition::table(predict_table::PredictUdtf::new),
        Definition::table(explain::ExplainUdtf::new),
        Definition::table(reason_codes::ReasonCodesUdtf::new),
        Definition::table(feature_importance::FeatureImportanceUdtf::new),
    ]
}

fn scalar<O: ModelOutput>() -> Definition<Services> {
    Definition::model_scalar(O::NAME, |s: &Services| ModelUdf::<O>::reporting(s))
}

/// The rows a scoring table function scores.
pub const SCORED: Param = Param::relation(
    "relation",
    "A table name, a parenthesized subquery, or text holding a table name or a query starting with SELECT or WITH.",
);

/// What one model-bound scalar computes; [`ModelUdf`] does the rest.
pub trait ModelOutput: Debug + Default + Send + Sync + 'static {
    /// The name the function is called by.
    const NAME: &'static str;
    /// The function errors name: the SQL function a hidden helper serves.
    const FUNCTION: &'static str = Self::NAME;
    /// Constant arguments between the model and the features.
    const CONSTANTS: usize = 0;
    /// Whether even a small batch is heavy work (an explanation), to run in
    /// the compute pool whatever its size.
    const HEAVY: bool = false;

    /// The result type for `model`, once it is known the model can give it.
    fn output_type(&self, model: &LoadedModel) -> Result<DataType, SqlStateError>;

    /// The results for one batch.
    fn evaluate(&self, model: &LoadedModel, batch: Batch) -> DfResult<ArrayRef>;

    /// The results for one batch with what the prediction log keeps: the
    /// prediction and the probability ([`LoadedModel::predict_scored`]).
    /// By default scored again; outputs that get both from one pass say so.
    fn evaluate_logged(&self, model: &LoadedModel, batch: Batch) -> DfResult<Logged> {
        let features = batch.features.clone();
        let result = self.evaluate(model, batch)?;
        let (prediction, probability) = model.predict_scored(&features)?;
        Ok(Logged {
            result,
            prediction,
            probability,
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        None
    }
}

/// A batch's results with what the prediction log keeps of them.
pub struct Logged {
    pub result: ArrayRef,
    pub prediction: ArrayRef,
    pub probability: Option<ArrayRef>,
}

/// One batch to score.
pub struct Batch<'a> {
    /// The features in model order.
    pub features: Vec<ArrayRef>,
    /// The constants between the model and the features.
    pub constants: &'a [ColumnarValue],
    pub rows: usize,
    /// Threads the session gives one operator.
    pub threads: usize,
    /// The statement's stop, to check between blocks of rows.
    pub stop: &'a Stop,
}

/// Batches of at least this many rows are scored in the compute pool; a
/// smaller one (a single-row lookup) costs less than handing the runtime's
/// worker off.
const POOLED_ROWS: usize = 1024;

/// The scalar UDF of a [`ModelOutput`], over a model store.
#[derive(Debug)]
pub struct ModelUdf<O: ModelOutput> {
    store: Arc<dyn ModelStore>,
    /// Where calls are reported: the functions users call report, the
    /// scoring inside evaluation functions does not.
    sink: Option<Arc<dyn PredictionSink>>,
    signature: Signature,
    output: O,
}

impl<O: ModelOutput> ModelUdf<O> {
    pub fn new(store: Arc<dyn ModelStore>) -> Self {
        ModelUdf {
            store,
            sink: None,
            signature: Signature::variadic_any(Volatility::Stable),
            output: O::default(),
        }
    }

    /// The scalar users call: its calls count in live metrics and are
    /// logged as the model's policy says.
    pub fn reporting(services: &Services) -> Self {
        ModelUdf {
            sink: Some(services.sink.clone()),
            ..ModelUdf::new(services.models.clone())
        }
    }

    /// The feature arguments: after the model and the constants, without
    /// the hidden key ([`KEY_ARG`] then the key column) when `keyed`.
    fn features<T>(args: &[T], keyed: bool) -> &[T] {
        let end = args.len().saturating_sub(if keyed { 2 } else { 0 });
        args.get(1 + O::CONSTANTS..end).unwrap_or_default()
    }
}

fn is_key_marker(v: &ScalarValue) -> bool {
    matches!(
        v,
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) if s == KEY_ARG
    )
}

/// Whether a call's constant arguments end with the hidden key: the
/// literal [`KEY_ARG`], then the key column.
fn keyed_scalars(scalars: &[Option<&ScalarValue>]) -> bool {
    scalars.len() >= 3 && scalars[scalars.len() - 2].is_some_and(is_key_marker)
}

/// [`keyed_scalars`] of evaluated arguments.
fn keyed_values(args: &[ColumnarValue]) -> bool {
    args.len() >= 3 && matches!(&args[args.len() - 2], ColumnarValue::Scalar(v) if is_key_marker(v))
}

/// The hidden key arguments that make a scoring call log `key`.
pub fn key_args(key: Expr) -> [Expr; 2] {
    [lit(KEY_ARG), key]
}

/// The scalar of `O` over `store`, for a table function's plan to call;
/// it reports nothing (evaluation is not serving).
pub fn udf<O: ModelOutput>(store: &Arc<dyn ModelStore>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(ModelUdf::<O>::new(store.clone())))
}

/// The scalar of `O` as users call it, reporting to the services' sink.
pub fn reporting_udf<O: ModelOutput>(services: &Services) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(ModelUdf::<O>::reporting(services)))
}

impl<O: ModelOutput> PartialEq for ModelUdf<O> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store) && self.sink.is_some() == other.sink.is_some()
    }
}

impl<O: ModelOutput> Eq for ModelUdf<O> {}

impl<O: ModelOutput> Hash for ModelUdf<O> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        O::NAME.hash(state);
    }
}

impl<O: ModelOutput> ScalarUDFImpl for ModelUdf<O> {
    fn name(&self) -> &str {
        O::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Err(
            SqlStateError::internal(format!("{}: return_field_from_args is used", O::NAME))
                .into_df(),
        )
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let reference = model_reference(
            O::FUNCTION,
            args.scalar_arguments.first().copied().flatten(),
        )?;
        let fields = Self::features(args.arg_fields, keyed_scalars(args.scalar_arguments));
        let arms = Arms::load(self.store.as_ref(), &reference)?;
        let mut data_type = None;
        // The shadow's answers are never returned: it is not bound here,
        // and a query it cannot score still runs (`ModelUdf::shadow`).
        let served = arms.models();
        for model in served
            .iter()
            .take(served.len() - usize::from(arms.shadow.is_some()))
        {
            bind_with(O::FUNCTION, model, fields, &arms.models())?;
            let t = self.output.output_type(model)?;
            match &data_type {
                None => data_type = Some(t),
                Some(first) if *first != t => {
                    return Err(SqlStateError::new(
                        crate::error::sqlstate::DATATYPE_MISMATCH,
                        format!(
                            "{}: model {}@{} gives {t}, production gives {first}: the versions sharing a model's traffic must answer alike",
                            O::FUNCTION,
                            model.name,
                            model.version
                        ),
                    )
                    .into());
                }
                Some(_) => {}
            }
        }
        let data_type = data_type
            .ok_or_else(|| SqlStateError::internal("a route without production").into_df())?;
        Ok(Arc::new(Field::new(O::NAME, data_type, true)))
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        pin(self.store.as_ref(), args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let reference = match &args.args[0] {
            ColumnarValue::Scalar(v) => Some(v.clone()),
            ColumnarValue::Array(_) => None,
        };
        let reference = model_reference(O::FUNCTION, reference.as_ref())?;
        let arms = Arms::load(self.store.as_ref(), &reference)?;
        let keyed = keyed_values(&args.args);
        let fields = Self::features(&args.arg_fields, keyed);
        let inputs = Self::features(&args.args, keyed);
        let key = if keyed {
            ColumnarValue::values_to_arrays(&args.args[args.args.len() - 1..])?.pop()
        } else {
            None
        };
        let rows = args.number_rows;
        let Some(route) = &arms.route else {
            let order = bind(O::FUNCTION, &arms.production, fields)?;
            let features = feature_arrays(inputs, fields, &order, rows)?;
            let out = self.score_reported(&arms.production, features, key, None, &args)?;
            return Ok(ColumnarValue::Array(out));
        };
        // Each arm scores its own rows; the results go back in row order.
        let divided = route.divide(key.as_ref(), rows);
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(2);
        for (part, challenger) in divided.arms().enumerate() {
            let model = match (challenger, &arms.challenger) {
                (true, Some(challenger)) => challenger,
                _ => &arms.production,
            };
            let order = bind_with(O::FUNCTION, model, fields, &arms.models())?;
            let features = divided.take(part, &feature_arrays(inputs, fields, &order, rows)?)?;
            let key = match &key {
                Some(k) => divided.take(part, std::slice::from_ref(k))?.pop(),
                None => None,
            };
            let out = self.score_reported_rows(
                model,
                features,
                key,
                Some(route.arm(challenger)),
                divided.rows(part),
                &args,
            )?;
            parts.push(out);
        }
        if let Some(shadow) = &arms.shadow {
            self.shadow(shadow, &arms, inputs, fields, key, &args);
        }
        let out = divided.merge(&parts)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.output.documentation()
    }
}

impl<O: ModelOutput> ModelUdf<O> {
    /// Scores all of a call's rows with `model` and reports the call.
    fn score_reported(
        &self,
        model: &LoadedModel,
        features: Vec<ArrayRef>,
        key: Option<ArrayRef>,
        arm: Option<&str>,
        args: &ScalarFunctionArgs,
    ) -> DfResult<ArrayRef> {
        self.score_reported_rows(model, features, key, arm, args.number_rows, args)
    }

    /// Scores `rows` rows with `model` and reports them to the sink (as
    /// served by `arm`, for a routed call), logging what the policy samples.
    fn score_reported_rows(
        &self,
        model: &LoadedModel,
        features: Vec<ArrayRef>,
        key: Option<ArrayRef>,
        arm: Option<&str>,
        rows: usize,
        args: &ScalarFunctionArgs,
    ) -> DfResult<ArrayRef> {
        let Some(sink) = &self.sink else {
            let (out, _) = self.score(model, features, false, rows, args)?;
            return Ok(out);
        };
        let pinned = ModelRef {
            name: model.name.clone(),
            version: model.version,
        };
        let policy = sink.policy(&pinned);
        let logs = policy.as_ref().is_some_and(LogPolicy::logs);
        let started = std::time::Instant::now();
        let logged_features = logs.then(|| features.clone());
        let (out, logged) = match self.score(model, features, logs, rows, args) {
            Ok(scored) => scored,
            Err(e) => {
                sink.failed(&pinned, O::FUNCTION);
                return Err(e);
            }
        };
        let control = Control::of(&args.config_options);
        sink.record(&Scored {
            model,
            function: O::FUNCTION,
            features: logged_features.as_deref().unwrap_or_default(),
            key: key.as_ref(),
            prediction: logged.as_ref().map(|l| &l.prediction),
            probability: logged.as_ref().and_then(|l| l.probability.as_ref()),
            policy: policy.as_ref(),
            rows,
            elapsed: started.elapsed(),
            user: &crate::session_info::user(&args.config_options),
            request: control.statement.stop().id(),
            arm,
        });
        Ok(out)
    }

    /// Scores every row with the shadow version for the log only: its
    /// result is never returned, and its failure never fails the query
    /// (it is counted as the shadow's error).
    fn shadow(
        &self,
        shadow: &LoadedModel,
        arms: &Arms,
        inputs: &[ColumnarValue],
        fields: &[FieldRef],
        key: Option<ArrayRef>,
        args: &ScalarFunctionArgs,
    ) {
        let Some(sink) = &self.sink else {
            return;
        };
        // A scoring error is counted by `score_reported`; inputs the
        // shadow cannot take (a feature the query lacks) likewise here.
        match bind_with(O::FUNCTION, shadow, fields, &arms.models())
            .map_err(SqlStateError::into_df)
            .and_then(|order| feature_arrays(inputs, fields, &order, args.number_rows))
        {
            Ok(features) => {
                let _ = self.score_reported(
                    shadow,
                    features,
                    key,
                    Some(crate::model::route::SHADOW),
                    args,
                );
            }
            Err(_) => sink.failed(
                &ModelRef {
                    name: shadow.name.clone(),
                    version: shadow.version,
                },
                O::FUNCTION,
            ),
        }
    }

    /// Scores one batch of `rows` rows, in the compute pool when it is
    /// heavy; when `logged`, also what the log keeps.
    fn score(
        &self,
        model: &LoadedModel,
        features: Vec<ArrayRef>,
        logged: bool,
        rows: usize,
        args: &ScalarFunctionArgs,
    ) -> DfResult<(ArrayRef, Option<Logged>)> {
        let control = Control::of(&args.config_options);
        let evaluate = |stop: &Stop| {
            stop.check().map_err(SqlStateError::into_df)?;
            let batch = Batch {
                features,
                constants: args.args.get(1..1 + O::CONSTANTS).unwrap_or_default(),
                rows,
                threads: args.config_options.execution.target_partitions.max(1),
                stop,
            };
            if logged {
                self.output
                    .evaluate_logged(model, batch)
                    .map(|l| (l.result.clone(), Some(l)))
            } else {
                self.output.evaluate(model, batch).map(|r| (r, None))
            }
        };
        if O::HEAVY || rows >= POOLED_ROWS {
            control.run(evaluate)
        } else {
            evaluate(&control.statement.stop())
        }
    }
}

/// The versions a call's model reference scores with: one, or for a
/// routed reference ([`Route`]) production, the challenger and the shadow.
pub struct Arms {
    pub route: Option<Route>,
    pub production: Arc<LoadedModel>,
    pub challenger: Option<Arc<LoadedModel>>,
    pub shadow: Option<Arc<LoadedModel>>,
}

impl Arms {
    /// The versions of `reference`: a routed reference as planned, a bare
    /// name as it routes now, anything else resolved to one version.
    pub fn load(store: &dyn ModelStore, reference: &str) -> Result<Arms, SqlStateError> {
        let route = match Route::parse(reference) {
            Some(route) => Some(route),
            None => store.route(reference)?,
        };
        let Some(route) = route else {
            let model = store.resolve(reference)?;
            return Ok(Arms {
                route: None,
                production: store.load(&model)?,
                challenger: None,
                shadow: None,
            });
        };
        let load = |v: u32| store.load(&route.version(v));
        Ok(Arms {
            production: load(route.production)?,
            challenger: route
                .challenger
                .as_ref()
                .map(|s| load(s.version))
                .transpose()?,
            shadow: route.shadow.map(load).transpose()?,
            route: Some(route),
        })
    }

    /// Every version: production first.
    pub fn models(&self) -> Vec<&LoadedModel> {
        std::iter::once(&self.production)
            .chain(&self.challenger)
            .chain(&self.shadow)
            .map(|m| m.as_ref())
            .collect()
    }
}

/// The model `reference` names, pinned to the version it names now and
/// loaded: a query planned with it scores with that one version even if a
/// deploy moves an alias while it runs.
pub fn pinned_model(
    store: &dyn ModelStore,
    reference: &str,
) -> Result<(ModelRef, Arc<LoadedModel>), SqlStateError> {
    let pinned = store.resolve(reference)?;
    let model = store.load(&pinned)?;
    Ok((pinned, model))
}

/// Each feature of `model` with the column of `input` that feeds it (by
/// name, exactly or else case-insensitively); 22023 naming the features the
/// relation lacks.
pub fn feature_columns<'m>(
    function: &str,
    pinned: &ModelRef,
    model: &'m LoadedModel,
    input: &LogicalPlan,
) -> Result<Vec<(&'m Feature, Expr)>, SqlStateError> {
    let mut columns = Vec::with_capacity(model.features().len());
    let mut missing = Vec::new();
    for feature in model.features() {
        match find_column(input, &feature.name) {
            Some(column) => columns.push((feature, column)),
            None => missing.push(feature.name.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(SqlStateError::bad_argument(format!(
            "{function}: the relation lacks features of model {pinned}: {}",
            missing.join(", ")
        )));
    }
    Ok(columns)
}

/// The arguments of a scoring scalar in a table function's plan: the
/// pinned reference, then the feature columns in one struct whose fields
/// are named as the features. A struct, not aliased arguments: the
/// optimizer merges a subquery's projection into the call and drops the
/// aliases of arguments (`(SELECT age + 20 AS age ...)` would reach the
/// model as `t.age + 20`), while a struct's field names are part of it.
pub fn scoring_args(pinned: &ModelRef, columns: &[(&Feature, Expr)]) -> Vec<Expr> {
    scoring_args_for(&pinned.to_string(), columns)
}

/// [`scoring_args`] for any pinned reference text (a route's included).
pub fn scoring_args_for(reference: &str, columns: &[(&Feature, Expr)]) -> Vec<Expr> {
    let fields = columns
        .iter()
        .flat_map(|(f, c)| [lit(f.name.clone()), c.clone()])
        .collect();
    vec![
        lit(reference.to_string()),
        datafusion::functions::core::expr_fn::named_struct(fields),
    ]
}

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
    bind_with(function, model, arg_fields, &[])
}

/// [`bind`] for a call that several versions score (a routed model): an
/// input is unknown only when no version in `all` takes it.
pub fn bind_with(
    function: &str,
    model: &LoadedModel,
    arg_fields: &[FieldRef],
    all: &[&LoadedModel],
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
    let takes = |g: &str| {
        wanted.iter().any(|w| w.eq_ignore_ascii_case(g))
            || all
                .iter()
                .any(|m| m.features().iter().any(|f| f.name.eq_ignore_ascii_case(g)))
    };
    let unknown: Vec<&str> = given
        .iter()
        .map(String::as_str)
        .filter(|g| !takes(g))
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
        // The table form is ml_predict's for every output (it returns the
        // prediction and the probability); there is no table function of
        // the other scalars' names.
        return Err(SqlStateError::bad_argument(msg).with_hint(format!(
            "pass the feature columns by name, or rename expressions with struct(expr AS name, ...); \
             SELECT * FROM ml_predict('{}', table) scores the rows of a table by their column names",
            crate::model::store::quote_name(&model.name)
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
                .ok_or_else(|| SqlStateError::internal("struct expected").into_df())?;
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
    if ModelRef::parse_pinned(&reference).is_some() || Route::parse(&reference).is_some() {
        return Ok(ExprSimplifyResult::Original(args));
    }
    // A bare name whose traffic is split is pinned to the route as it is
    // now: every version it names, and the shares.
    let pinned = match store.route(&reference).map_err(SqlStateError::into_df)? {
        Some(route) => route.to_string(),
        None => store
            .resolve(&reference)
            .map_err(SqlStateError::into_df)?
            .to_string(),
    };
    let keep_type = matches!(value, ScalarValue::Utf8View(_));
    args[0] = if keep_type {
        lit(ScalarValue::Utf8View(Some(pinned)))
    } else {
        lit(pinned)
    };
    Ok(ExprSimplifyResult::Original(args))
}
