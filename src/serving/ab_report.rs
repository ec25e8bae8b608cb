//! `SELECT * FROM ml_ab_report(model [, metric [, since]])`: how the arms
//! of a model's traffic split compare on the outcomes that came back.
//!
//! An arm is the alias that served a logged prediction (`production`, the
//! alias with the traffic share, `shadow`: the log's `alias`). Feedback is
//! joined as `ml_monitor` joins it (the latest prediction of the key at or
//! before the feedback; the shadow's predictions in a lane of their own).
//! Per arm and version: rows scored and labelled, the metric with its
//! percentile bootstrap interval, and against production (the baseline)
//! the lift with its interval and two-sided p-value. The arms are
//! different customers, so the samples are independent: each is resampled
//! on its own, and the tests are `ml_compare`'s in their two-sample form
//! (DeLong's for ROC AUC with the variances added; the bootstrap sign test
//! of the differences otherwise). The verdict reads the p-value at the
//! interval's level; while not significant, `rows_needed` says how many
//! more labelled rows (both arms, at their current ratio) would detect the
//! observed lift with 80% power.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema, SchemaRef};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::{
    DocSection, Documentation, DocumentationBuilder, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::physical_plan::execute_stream;
use futures::StreamExt;
use quarry_udfs::ModelStore;
use quarry_udfs::functions::definition::TableFunctionSpec;
use quarry_udfs::functions::evaluation::Options;
use quarry_udfs::functions::params::{Args, MODEL, Param, Params};
use quarry_udfs::functions::relation::RelationFunction;
use quarry_udfs::kernels::bootstrap::{self, Kind};
use quarry_udfs::model::route::PRODUCTION;

use super::joined::{
    FeedbackJoin, Lane, LogCall, LogJob, LogTable, Scans, column, constant, micros, text_of, texts,
};
use super::monitor::{VersionInfo, labelled_vectors, since_value};
use crate::error::SqlStateError;
use crate::registry::Registry;

pub const NAME: &str = "ml_ab_report";

#[derive(Debug)]
pub struct AbReportUdtf {
    registry: Arc<Registry>,
}

impl AbReportUdtf {
    pub fn new(registry: Arc<Registry>) -> Self {
        AbReportUdtf { registry }
    }
}

impl TableFunctionSpec for AbReportUdtf {
    const NAME: &'static str = NAME;
    const PARAMS: Params = Params::new(&[
        MODEL,
        Param::value(
            "metric",
            "The metric compared: roc_auc (default for binary classifiers), accuracy, precision, recall, f1, pr_auc, log_loss, brier; accuracy (multi-class); rmse (default for regressors), mae, mape, r2.",
        )
        .optional(),
        Param::value(
            "since",
            "Predictions logged from: a timestamp, or an interval back from now such as '7 days' (default: since the split was last deployed).",
        )
        .optional(),
        Param::named("ci", "Confidence level of the intervals and the verdict (default 0.95)."),
        Param::named("bootstrap", "Resamples per arm (default 1000)."),
        Param::named("seed", "Seed of the resamples (default 42)."),
    ]);

    fn doc() -> DocumentationBuilder {
        Documentation::builder(
            DocSection { include: true, label: "Model monitoring", description: None },
            "An A/B report of a model's traffic split (ml_deploy(model, version, 'challenger', 0.2)): per arm (the alias that served the logged predictions: production, the challenger, shadow) and version, the rows scored and labelled (feedback joined as ml_monitor joins it), the metric with a percentile bootstrap interval, and against production the lift (arm minus production) with its interval and two-sided p-value. The arms are different customers, so each is resampled on its own and the tests are ml_compare's in their two-sample form: DeLong's for roc_auc, the bootstrap sign test of the differences otherwise. override_rate is overridden / labelled. verdict: '<arm> better' or '<arm> worse' when the p-value is below 1 - ci (better by the metric's direction), else 'not yet significant' with rows_needed, the further labelled rows (both arms at their current ratio) that would detect the observed lift with 80% power; 'baseline' for production. Only logged predictions count (the policy's log_sample_rate). Errors: 42704 unknown model; 22023 for an unknown metric, a bad since or option; 42501 without PREDICT on the model.",
            "SELECT * FROM ml_ab_report(model [, metric [, since]])",
        )
        .with_sql_example(
r#"```sql
> SELECT version FROM ml_train('churn_ab', customers, '{"algorithm": "sql_rule", "task": "classification",
    "label": "churned", "expression": "least(1.0, support_calls / 8.0)"}');
+---------+
| version |
+---------+
| 1       |
+---------+
> SELECT version FROM ml_train('churn_ab', customers, '{"algorithm": "sql_rule", "task": "classification",
    "label": "churned", "expression": "least(1.0, support_calls / 8.0 + CASE WHEN tenure_months < 6 THEN 0.3 ELSE 0.0 END)"}');
+---------+
| version |
+---------+
| 2       |
+---------+
> SELECT ml_deploy('churn_ab', 1);
+------------------------------+
| ml_deploy                    |
+------------------------------+
| churn_ab@1 is now production |
+------------------------------+
> SELECT ml_set_policy('churn_ab', '{"key": "customer_id", "log_sample_rate": 1}');
+-------------------------------------------+
| ml_set_policy                             |
+-------------------------------------------+
| {"key":"customer_id","log_sample_rate":1} |
+-------------------------------------------+
> SELECT ml_deploy('churn_ab', 2, 'challenger', 0.2);
+------------------------------------------------------+
| ml_deploy                                            |
+------------------------------------------------------+
| churn_ab@2 is now challenger with 20% of the traffic |
+------------------------------------------------------+
> SELECT count(prediction) AS scored FROM ml_predict('churn_ab', customers_recent);
+--------+
| scored |
+--------+
| 10000  |
+--------+
> INSERT INTO ml_feedback (model, key, actual)
  SELECT 'churn_ab', CAST(customer_id AS TEXT), CAST(churned AS TEXT) FROM customers_recent;
> SELECT arm, version, scored, labelled, round(value, 3) AS auc, round(lift, 3) AS lift,
         round(p_value, 4) AS p_value, verdict, rows_needed
  FROM ml_ab_report('churn_ab') ORDER BY arm;
+------------+---------+--------+----------+-------+-------+---------+---------------------+-------------+
| arm        | version | scored | labelled | auc   | lift  | p_value | verdict             | rows_needed |
+------------+---------+--------+----------+-------+-------+---------+---------------------+-------------+
| challenger | 2       | 2027   | 2027     | 0.665 | 0.001 | 0.9641  | not yet significant | 38775826    |
| production | 1       | 7973   | 7973     | 0.664 |       |         | baseline            |             |
+------------+---------+--------+----------+-------+-------+---------+---------------------+-------------+
```"#,
        )
    }
}

impl RelationFunction for AbReportUdtf {
    fn plan(&self, args: Args, ctx: &mut dyn RelationPlannerContext) -> Result<LogicalPlan> {
        let LogCall {
            model,
            values,
            mut options,
            ..
        } = LogCall::parse(NAME, &self.registry, args, ctx, &["metric", "since"])?;
        let (metric, since) = (&values[0], &values[1]);
        if options.bootstrap == 0 {
            options.bootstrap = Options::default().bootstrap;
        }
        let loaded = self.registry.load(&model).map_err(SqlStateError::into_df)?;
        let kind = match VersionInfo::kind_of(&loaded) {
            Some(kind) => kind,
            None => {
                return Err(SqlStateError::unsupported(format!(
                    "{NAME}: model \"{}\" is a {} model: an A/B report compares classifiers or regressors",
                    model.name,
                    loaded.task().name()
                ))
                .into_df());
            }
        };
        let metric = match metric {
            None => match kind {
                Kind::Binary => "roc_auc",
                Kind::Multiclass => "accuracy",
                Kind::Regression => "rmse",
            },
            Some(m) => {
                let v = constant(NAME, "metric", m).map_err(SqlStateError::into_df)?;
                let text = text_of(v).unwrap_or_default().trim().to_ascii_lowercase();
                kind.metrics()
                    .iter()
                    .copied()
                    .find(|n| *n == text)
                    .ok_or_else(|| {
                        SqlStateError::arg(
                            NAME,
                            "metric",
                            format!(
                                "must be one of {} for model \"{}\"",
                                kind.metrics().join(", "),
                                model.name
                            ),
                            v,
                        )
                        .into_df()
                    })?
            }
        };
        let since = match since {
            Some(s) => since_value(
                NAME,
                constant(NAME, "since", s).map_err(SqlStateError::into_df)?,
                Utc::now(),
            )
            .map_err(SqlStateError::into_df)?,
            None => self
                .registry
                .split_started(&model.name)
                .map_err(SqlStateError::into_df)?
                .unwrap_or(i64::MIN),
        };
        let job = AbReport {
            registry: self.registry.clone(),
            model: model.name.clone(),
            metric,
            since,
            options,
        };
        LogicalPlanBuilder::scan(NAME, provider_as_source(Arc::new(LogTable(job))), None)?.build()
    }
}

/// One call's request.
#[derive(Debug, Clone)]
struct AbReport {
    registry: Arc<Registry>,
    model: String,
    metric: &'static str,
    since: i64,
    options: Options,
}

/// A labelled prediction: its arm, what it said.
struct Pick {
    arm: usize,
    output: Option<String>,
    probability: Option<f64>,
}

/// One (arm, version) of the log.
struct Arm {
    name: String,
    version: i32,
    scored: i64,
}

fn output_schema() -> SchemaRef {
    let f = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("arm", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
        Field::new("scored", DataType::Int64, false),
        Field::new("labelled", DataType::Int64, false),
        Field::new("metric", DataType::Utf8, false),
        f("value"),
        f("ci_lower"),
        f("ci_upper"),
        f("lift"),
        f("lift_ci_lower"),
        f("lift_ci_upper"),
        f("p_value"),
        f("override_rate"),
        Field::new("verdict", DataType::Utf8, true),
        Field::new("rows_needed", DataType::Int64, true),
    ]))
}

#[async_trait]
impl LogJob for AbReport {
    const NAME: &'static str = NAME;

    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn since(&self) -> i64 {
        self.since
    }

    async fn run(self, scans: Scans) -> Result<RecordBatch> {
        let mut join: FeedbackJoin<Pick> =
            FeedbackJoin::read(&self.model, scans.feedback, scans.ctx.clone()).await?;
        let mut arms: Vec<Arm> = Vec::new();
        let mut index: BTreeMap<(String, i32), usize> = BTreeMap::new();
        let mut stream = execute_stream(scans.log, scans.ctx)?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let (model, alias, key, output) = (
                texts(&batch, "model")?,
                texts(&batch, "alias")?,
                texts(&batch, "key")?,
                texts(&batch, "output")?,
            );
            let version = cast(column(&batch, "version")?, &DataType::Int32)?;
            let version = version.as_primitive::<Int32Type>();
            let probability = cast(column(&batch, "probability")?, &DataType::Float64)?;
            let probability = probability.as_primitive::<Float64Type>();
            let at = micros(&batch, "at")?;
            for i in 0..batch.num_rows() {
                if model.is_null(i)
                    || model.value(i) != self.model
                    || at.value(i) < self.since
                    || alias.is_null(i)
                {
                    continue;
                }
                let name = alias.value(i);
                let arm = match index.get(&(name.to_string(), version.value(i))) {
                    Some(&a) => a,
                    None => {
                        arms.push(Arm {
                            name: name.to_string(),
                            version: version.value(i),
                            scored: 0,
                        });
                        index.insert((name.to_string(), version.value(i)), arms.len() - 1);
                        arms.len() - 1
                    }
                };
                arms[arm].scored += 1;
                if key.is_valid(i) && join.wants(key.value(i)) {
                    join.offer(Lane::of(Some(name)), key.value(i), at.value(i), || Pick {
                        arm,
                        output: output.is_valid(i).then(|| output.value(i).to_string()),
                        probability: probability.is_valid(i).then(|| probability.value(i)),
                    });
                }
            }
        }
        let joined = join.joined();
        let Scans {
            control, threads, ..
        } = scans;
        let work = move || -> Result<RecordBatch> {
            control.run(|stop| {
                self.report(&arms, joined, threads, stop)
                    .map_err(SqlStateError::into_df)
            })
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| SqlStateError::internal(format!("{NAME}: {e}")).into_df())?
    }
}

impl AbReport {
    fn report(
        &self,
        arms: &[Arm],
        joined: Vec<(super::joined::Feedback, Pick)>,
        threads: usize,
        stop: &quarry_udfs::control::Stop,
    ) -> std::result::Result<RecordBatch, SqlStateError> {
        let mut by_arm: Vec<Vec<(super::joined::Feedback, Pick)>> =
            arms.iter().map(|_| Vec::new()).collect();
        for (f, p) in joined {
            by_arm[p.arm].push((f, p));
        }
        // Each arm's labelled rows, prepared, and the metric resampled from
        // a seed of its own (the arms are independent samples).
        let mut prepared = Vec::with_capacity(arms.len());
        for (a, arm) in arms.iter().enumerate() {
            let info = VersionInfo::load(&self.registry, &self.model, arm.version as u32);
            let rows: Vec<(Option<&str>, Option<&str>, Option<f64>)> = by_arm[a]
                .iter()
                .map(|(f, p)| (f.actual.as_deref(), p.output.as_deref(), p.probability))
                .collect();
            let ready = info
                .as_ref()
                .and_then(|info| labelled_vectors(info, &rows))
                .and_then(|v| {
                    let metric = v.kind.metrics().iter().position(|m| *m == self.metric)?;
                    (!v.y.is_empty()).then(|| {
                        (
                            bootstrap::Prepared::new(v.kind, v.y, v.prediction, v.score),
                            metric,
                        )
                    })
                });
            let resamples = match &ready {
                Some((p, metric)) => Some(bootstrap::arm_resamples(
                    p,
                    *metric,
                    self.options.bootstrap,
                    arm_seed(self.options.seed, a),
                    threads,
                    stop,
                )?),
                None => None,
            };
            prepared.push(ready.zip(resamples));
        }
        // Production with the most rows is the baseline.
        let baseline = (0..arms.len())
            .filter(|&a| arms[a].name == PRODUCTION)
            .max_by_key(|&a| (arms[a].scored, a));
        let mut out = Rows::default();
        let mut order: Vec<usize> = (0..arms.len()).collect();
        order.sort_by(|&a, &b| {
            (&arms[a].name, arms[a].version).cmp(&(&arms[b].name, arms[b].version))
        });
        for a in order {
            let arm = &arms[a];
            let labelled = by_arm[a].len();
            let overridden = by_arm[a].iter().filter(|(f, _)| f.overridden).count();
            out.arm.push(arm.name.clone());
            out.version.push(arm.version);
            out.scored.push(arm.scored);
            out.labelled.push(labelled as i64);
            out.override_rate
                .push((labelled > 0).then(|| overridden as f64 / labelled as f64));
            let here = prepared[a].as_ref();
            let base = baseline.and_then(|b| prepared[b].as_ref());
            match (here, base) {
                (Some(((p, metric), values)), _) if Some(a) == baseline => {
                    let value = p.metrics(None)[*metric];
                    let (lo, hi) = bootstrap::interval(values, self.options.ci);
                    out.push_metric(value, lo, hi);
                    out.push_comparison(None, Some("baseline".into()), None);
                }
                (Some(((p, metric), values)), Some(((bp, _), base_values))) => {
                    let c = bootstrap::compare_arms(
                        bp,
                        base_values,
                        p,
                        values,
                        *metric,
                        self.options.ci,
                    );
                    out.push_metric(c.value, c.ci.0, c.ci.1);
                    let kind = p.kind();
                    let higher = kind.higher_is_better(*metric);
                    let verdict = if c.p_value < 1.0 - self.options.ci {
                        if (c.lift > 0.0) == higher {
                            format!("{} better", arm.name)
                        } else {
                            format!("{} worse", arm.name)
                        }
                    } else {
                        "not yet significant".to_string()
                    };
                    out.push_comparison(Some(&c), Some(verdict), c.rows_needed);
                }
                (Some(((p, metric), values)), None) => {
                    let value = p.metrics(None)[*metric];
                    let (lo, hi) = bootstrap::interval(values, self.options.ci);
                    out.push_metric(value, lo, hi);
                    out.push_comparison(None, None, None);
                }
                (None, _) => {
                    out.push_metric(f64::NAN, f64::NAN, f64::NAN);
                    out.push_comparison(None, None, None);
                }
            }
        }
        out.batch(self.metric)
    }
}

/// The seed of arm `a`'s resamples: the arms are independent samples, so
/// their resamples must not share draws.
fn arm_seed(seed: u64, a: usize) -> u64 {
    seed.wrapping_add((a as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Output rows, column by column.
#[derive(Default)]
struct Rows {
    arm: Vec<String>,
    version: Vec<i32>,
    scored: Vec<i64>,
    labelled: Vec<i64>,
    value: Vec<Option<f64>>,
    ci_lower: Vec<Option<f64>>,
    ci_upper: Vec<Option<f64>>,
    lift: Vec<Option<f64>>,
    lift_ci_lower: Vec<Option<f64>>,
    lift_ci_upper: Vec<Option<f64>>,
    p_value: Vec<Option<f64>>,
    override_rate: Vec<Option<f64>>,
    verdict: Vec<Option<String>>,
    rows_needed: Vec<Option<i64>>,
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Rows {
    fn push_metric(&mut self, value: f64, lower: f64, upper: f64) {
        self.value.push(finite(value));
        self.ci_lower.push(finite(lower));
        self.ci_upper.push(finite(upper));
    }

    fn push_comparison(
        &mut self,
        c: Option<&bootstrap::ArmComparison>,
        verdict: Option<String>,
        rows_needed: Option<u64>,
    ) {
        self.lift.push(c.and_then(|c| finite(c.lift)));
        self.lift_ci_lower.push(c.and_then(|c| finite(c.lift_ci.0)));
        self.lift_ci_upper.push(c.and_then(|c| finite(c.lift_ci.1)));
        self.p_value.push(c.and_then(|c| finite(c.p_value)));
        self.verdict.push(verdict);
        self.rows_needed
            .push(rows_needed.map(|n| i64::try_from(n).unwrap_or(i64::MAX)));
    }

    fn batch(self, metric: &str) -> std::result::Result<RecordBatch, SqlStateError> {
        let n = self.arm.len();
        let f = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.arm)),
            Arc::new(Int32Array::from(self.version)),
            Arc::new(Int64Array::from(self.scored)),
            Arc::new(Int64Array::from(self.labelled)),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                metric, n,
            ))),
            f(self.value),
            f(self.ci_lower),
            f(self.ci_upper),
            f(self.lift),
            f(self.lift_ci_lower),
            f(self.lift_ci_upper),
            f(self.p_value),
            f(self.override_rate),
            Arc::new(StringArray::from(self.verdict)),
            Arc::new(Int64Array::from(self.rows_needed)),
        ];
        RecordBatch::try_new(output_schema(), columns).map_err(SqlStateError::internal)
    }
}
