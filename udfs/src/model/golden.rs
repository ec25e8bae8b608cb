//! Golden artifacts: models written by this release, committed under
//! `tests/fixtures/artifacts/`, must load and score bit-identically in every
//! later release. A change that breaks this test breaks users' stored models:
//! bump the artifact format version and keep reading the old one instead.
//!
//! The fixtures were written by the ignored test `write_golden_artifacts`
//! (`cargo test --workspace --lib write_golden_artifacts -- --ignored`), which
//! only adds artifacts for models new to the list and never rewrites one; the
//! scoring inputs live in the fixture too, so the check does not depend on
//! any generator staying the same.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use serde_json::{Value, json};

use super::train::{TrainContext, train};
use super::{LoadedModel, TrainOptions};
use crate::kernels::rng::SplitMix;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/artifacts")
}

/// The models of the fixture: name and training options.
const MODELS: &[(&str, &[(&str, &str)])] = &[
    (
        "logistic_binary",
        &[
            ("algorithm", "logistic"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
        ],
    ),
    (
        "logistic_l1",
        &[
            ("algorithm", "logistic"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("l1", "0.5"),
            ("l2", "0"),
        ],
    ),
    (
        "logistic_multiclass",
        &[
            ("algorithm", "logistic"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
            ("encode", "cat:ordinal"),
        ],
    ),
    (
        "linear",
        &[
            ("algorithm", "linear"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("impute", "x:median"),
            ("scale", "x:robust"),
        ],
    ),
    (
        "ridge_hash",
        &[
            ("algorithm", "ridge"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("encode", "cat:hash:8"),
            ("l2", "3"),
        ],
    ),
    (
        "lasso_target",
        &[
            ("algorithm", "lasso"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("encode", "cat:target"),
            ("l1", "0.1"),
        ],
    ),
    (
        "kmeans",
        &[
            ("algorithm", "kmeans"),
            ("k", "3"),
            ("exclude", "y_bool,y_text,y_num"),
            ("scale", "minmax"),
        ],
    ),
    (
        "baseline",
        &[
            ("algorithm", "baseline"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
        ],
    ),
    (
        "sql_rule",
        &[
            ("algorithm", "sql_rule"),
            ("label", "y_bool"),
            (
                "expression",
                "CASE WHEN x > 5 AND flag THEN 0.9 ELSE 0.2 END",
            ),
        ],
    ),
    // Tree models (issue 4), written by the release that added them.
    (
        "gbdt_binary_monotone",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("rounds", "20"),
            ("max_depth", "4"),
            ("monotone", "x:1"),
        ],
    ),
    (
        "gbdt_multiclass",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
            ("rounds", "10"),
            ("encode", "cat:onehot"),
        ],
    ),
    (
        "gbdt_quantile",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("rounds", "15"),
            ("objective", "quantile:0.9"),
            ("encode", "cat:target"),
        ],
    ),
    (
        "random_forest",
        &[
            ("algorithm", "random_forest"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("trees", "15"),
            ("min_rows_per_leaf", "3"),
        ],
    ),
    (
        "decision_tree",
        &[
            ("algorithm", "decision_tree"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("max_depth", "5"),
        ],
    ),
    (
        "isolation_forest",
        &[
            ("algorithm", "isolation_forest"),
            ("exclude", "y_bool,y_text,y_num"),
            ("trees", "25"),
            ("sample_size", "64"),
        ],
    ),
    // Format 2: extras (column means, importance, calibration, intervals).
    (
        "gbdt_calibrated_v2",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("rounds", "15"),
            ("calibrate", "isotonic"),
        ],
    ),
    (
        "ridge_interval_v2",
        &[
            ("algorithm", "ridge"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("interval", "0.9"),
        ],
    ),
];

/// Training data with nulls in every feature and a few rare levels.
pub(super) fn training_batch(n: usize) -> RecordBatch {
    let mut rng = SplitMix(11);
    let mut x = Vec::with_capacity(n);
    let mut cat = Vec::with_capacity(n);
    let mut flag = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let (mut yb, mut yt, mut yn) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let xi = rng.uniform() * 10.0;
        let level = ["red", "green", "blue", "teal", "gold"][(rng.uniform() * 5.0) as usize % 5];
        let f = rng.uniform() < 0.4;
        let t = 1_600_000_000_000_000i64 + (rng.uniform() * 3.0e13) as i64;
        let noise = rng.uniform() - 0.5;
        let score =
            xi + if level == "red" { 3.0 } else { 0.0 } + if f { 1.5 } else { 0.0 } + noise * 4.0;
        x.push((i % 17 != 0).then_some(xi));
        cat.push((i % 13 != 0).then_some(level));
        flag.push((i % 19 != 0).then_some(f));
        ts.push((i % 23 != 0).then_some(t));
        yb.push(score > 6.0);
        yt.push(if score < 4.0 {
            "low"
        } else if score < 8.0 {
            "mid"
        } else {
            "high"
        });
        yn.push(2.0 * xi - if level == "blue" { 4.0 } else { 0.0 } + noise);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("cat", DataType::Utf8, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("y_bool", DataType::Boolean, false),
        Field::new("y_text", DataType::Utf8, false),
        Field::new("y_num", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(x)),
        Arc::new(StringArray::from(cat)),
        Arc::new(BooleanArray::from(flag)),
        Arc::new(TimestampMicrosecondArray::from(ts)),
        Arc::new(BooleanArray::from(yb)),
        Arc::new(StringArray::from(yt)),
        Arc::new(Float64Array::from(yn)),
    ];
    RecordBatch::try_new(schema, columns).expect("batch")
}

/// Scoring inputs as JSON rows: includes NULLs, an unseen level and extremes.
fn scoring_rows() -> Value {
    json!([
        {"x": 0.5, "cat": "red", "flag": true, "ts": 1_600_000_000_000_000i64},
        {"x": 9.5, "cat": "blue", "flag": false, "ts": 1_620_000_000_000_000i64},
        {"x": null, "cat": "green", "flag": true, "ts": 1_610_000_000_000_000i64},
        {"x": 5.0, "cat": null, "flag": null, "ts": null},
        {"x": 7.25, "cat": "never seen", "flag": false, "ts": 1_630_000_000_000_000i64},
        {"x": -100.0, "cat": "teal", "flag": true, "ts": 1_500_000_000_000_000i64},
        {"x": 1000.0, "cat": "gold", "flag": false, "ts": 1_700_000_000_000_000i64},
        {"x": 8.0, "cat": "red", "flag": true, "ts": 1_640_000_000_000_000i64}
    ])
}

fn input_arrays(rows: &Value, model: &LoadedModel) -> Vec<ArrayRef> {
    let rows = rows.as_array().expect("rows");
    model
        .features()
        .iter()
        .map(|f| -> ArrayRef {
            let col = rows.iter().map(|r| &r[f.name.as_str()]);
            match f.name.as_str() {
                "x" => Arc::new(col.map(Value::as_f64).collect::<Float64Array>()),
                "cat" => Arc::new(col.map(Value::as_str).collect::<StringArray>()),
                "flag" => Arc::new(col.map(Value::as_bool).collect::<BooleanArray>()),
                "ts" => Arc::new(
                    col.map(Value::as_i64)
                        .collect::<TimestampMicrosecondArray>(),
                ),
                other => panic!("unexpected feature {other}"),
            }
        })
        .collect()
}

/// An output array as JSON: floats as their exact bits, everything else as text.
fn encode(array: &ArrayRef) -> Value {
    if let Some(f) = array.as_any().downcast_ref::<Float64Array>() {
        return Value::Array(
            (0..f.len())
                .map(|i| {
                    if f.is_null(i) {
                        Value::Null
                    } else {
                        json!(f.value(i).to_bits())
                    }
                })
                .collect(),
        );
    }
    if let Some(l) = array.as_any().downcast_ref::<ListArray>() {
        return Value::Array((0..l.len()).map(|i| encode(&l.value(i))).collect());
    }
    Value::Array(
        (0..array.len())
            .map(|i| {
                if array.is_null(i) {
                    Value::Null
                } else {
                    json!(array_value_to_string(array, i).expect("display"))
                }
            })
            .collect(),
    )
}

fn outputs(model: &LoadedModel, rows: &Value) -> Value {
    let inputs = input_arrays(rows, model);
    let mut out = json!({"predict": encode(&model.predict(&inputs).expect("predict"))});
    if model.task() == super::Task::Classification {
        out["predict_proba"] = encode(&model.predict_proba(&inputs).expect("predict_proba"));
    }
    if model.envelope.conformal().is_some() {
        // Floats as their shortest round-trip text: JSON number parsing
        // need not give back the same bits.
        let text = |v: &[Option<f64>]| -> Vec<Option<String>> {
            v.iter().map(|x| x.map(|x| x.to_string())).collect()
        };
        let (lower, upper) = model.predict_interval(&inputs).expect("interval");
        out["interval"] = json!({"lower": text(&lower), "upper": text(&upper)});
    }
    if model.explainable().is_ok() {
        let e = model.explain(&inputs).expect("explain");
        let text = |v: &[f64]| -> Vec<String> { v.iter().map(f64::to_string).collect() };
        out["explain"] = json!({"base": text(&e.base), "contributions": text(&e.contributions)});
    }
    out
}

#[test]
fn golden_artifacts_score_identically() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let rows = &expected["inputs"];
    for (name, _) in MODELS {
        let bytes = std::fs::read(dir().join(format!("{name}.qmdl"))).expect("artifact");
        let model = LoadedModel::from_bytes(name, 1, &bytes)
            .unwrap_or_else(|e| panic!("{name} no longer loads: {e}"));
        assert_eq!(
            outputs(&model, rows),
            expected["models"][name],
            "{name} scores differently from its golden outputs"
        );
    }
}

#[test]
fn string_views_score_like_strings() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let rows = &expected["inputs"];
    for (name, _) in MODELS {
        let bytes = std::fs::read(dir().join(format!("{name}.qmdl"))).expect("artifact");
        let model = LoadedModel::from_bytes(name, 1, &bytes).expect("loads");
        let views: Vec<ArrayRef> = input_arrays(rows, &model)
            .into_iter()
            .map(|a| match a.data_type() {
                DataType::Utf8 => {
                    datafusion::arrow::compute::cast(&a, &DataType::Utf8View).expect("cast")
                }
                _ => a,
            })
            .collect();
        let got = encode(&model.predict(&views).expect("predict"));
        assert_eq!(
            got, expected["models"][name]["predict"],
            "{name} scores string views differently"
        );
    }
}

#[test]
#[ignore = "writes the golden fixtures; run once per artifact format version"]
fn write_golden_artifacts() {
    let batch = training_batch(600);
    let ctx = TrainContext {
        threads: 1,
        progress: &|_| {},
        cancelled: &|| false,
    };
    let rows = scoring_rows();
    let mut models = serde_json::Map::new();
    std::fs::create_dir_all(dir()).expect("dir");
    for (name, options) in MODELS {
        // An artifact once written is never rewritten: it is the fixture.
        let path = dir().join(format!("{name}.qmdl"));
        if let Ok(bytes) = std::fs::read(&path) {
            let model = LoadedModel::from_bytes(name, 1, &bytes).expect("loads");
            models.insert(name.to_string(), outputs(&model, &rows));
            continue;
        }
        let options = TrainOptions::of(options).expect("options");
        let trained =
            train(batch.schema(), std::slice::from_ref(&batch), &options, &ctx).expect("trains");
        let bytes = trained.envelope.to_bytes().expect("encodes");
        std::fs::write(&path, &bytes).expect("write artifact");
        let model = LoadedModel::from_bytes(name, 1, &bytes).expect("loads");
        models.insert(name.to_string(), outputs(&model, &rows));
    }
    // The same provenance key as every fixture of scripts/fixtures.
    let provenance = json!({
        "command": "cargo test --workspace --lib write_golden_artifacts -- --ignored",
        "generator": "udfs/src/model/golden.rs (write_golden_artifacts)",
        "input": "golden::training_batch(600) for training; the scoring rows are this file's inputs",
        "libraries": {"quarry-udfs": env!("CARGO_PKG_VERSION")},
        "seed": 11,
    });
    let fixture = json!({
        "format_version": super::artifact::FORMAT_VERSION,
        "inputs": rows,
        "models": models,
        "provenance": provenance,
    });
    std::fs::write(
        dir().join("expected.json"),
        serde_json::to_string_pretty(&fixture).expect("json") + "\n",
    )
    .expect("write");
}

/// Training runs whose every output is kept by [`training_is_unchanged`].
const TRAINING_RUNS: &[(&str, &[(&str, &str)])] = &[
    (
        "grid_cv",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("rounds", "5,10"),
            ("max_depth", "2,3"),
        ],
    ),
    (
        "random_search",
        &[
            ("algorithm", "logistic"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
            ("search", "random"),
            ("l2", "0.1,1,10"),
            ("max_iter", "50,100,200,300"),
        ],
    ),
    (
        "cv_time",
        &[
            ("algorithm", "ridge"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("cv", "time:ts:3"),
            ("l2", "0.5,2"),
        ],
    ),
    (
        "balanced_weighted",
        &[
            ("algorithm", "logistic"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("class_weight", "balanced"),
            ("weight", "w"),
        ],
    ),
    (
        "time_split_leak",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("split", "time:ts:0.25"),
            ("rounds", "8"),
            ("features", "x,cat,ts,leak"),
        ],
    ),
    (
        "platt",
        &[
            ("algorithm", "random_forest"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("trees", "12"),
            ("calibrate", "platt"),
        ],
    ),
    (
        "early_huber",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("rounds", "40"),
            ("early_stopping", "3"),
            ("objective", "huber:2"),
            ("subsample", "0.7"),
            ("colsample", "0.8"),
        ],
    ),
    (
        "forest_regression",
        &[
            ("algorithm", "random_forest"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("trees", "9"),
            ("colsample", "log2"),
            ("max_depth", "6"),
        ],
    ),
    (
        "forest_multiclass",
        &[
            ("algorithm", "random_forest"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
            ("trees", "7"),
        ],
    ),
    (
        "tree_classifier",
        &[
            ("algorithm", "decision_tree"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("min_rows_per_leaf", "5"),
        ],
    ),
    (
        "anomaly_labelled",
        &[
            ("algorithm", "isolation_forest"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("trees", "20"),
        ],
    ),
    (
        "kmeans_default",
        &[("algorithm", "kmeans"), ("exclude", "y_bool,y_text,y_num")],
    ),
    (
        "baseline_regression",
        &[
            ("algorithm", "baseline"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
        ],
    ),
    (
        "baseline_binary",
        &[
            ("algorithm", "baseline"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
        ],
    ),
    (
        "rule_regression",
        &[
            ("algorithm", "sql_rule"),
            ("task", "regression"),
            ("label", "y_num"),
            ("expression", "x * 2 - 1"),
        ],
    ),
    (
        "lasso_default",
        &[
            ("algorithm", "lasso"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("impute", "constant:0,cat:constant:red"),
        ],
    ),
    (
        "logistic_l1_multi_ordinal",
        &[
            ("algorithm", "logistic"),
            ("label", "y_bool"),
            ("exclude", "y_text,y_num"),
            ("l1", "0.2"),
            ("encode", "ordinal"),
            ("scale", "x:minmax"),
        ],
    ),
    (
        "linear_onehot_cap",
        &[
            ("algorithm", "linear"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("max_categories", "3"),
            ("split", "random:0.3"),
            ("seed", "7"),
        ],
    ),
    (
        "gbdt_softmax_cv",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_text"),
            ("exclude", "y_bool,y_num"),
            ("rounds", "6"),
            ("cv", "3"),
            ("max_bins", "16"),
        ],
    ),
    (
        "gbdt_interval",
        &[
            ("algorithm", "gbdt"),
            ("label", "y_num"),
            ("exclude", "y_bool,y_text"),
            ("rounds", "10"),
            ("interval", "0.8"),
            ("encode", "cat:hash:4"),
        ],
    ),
];

/// Every output of a training run, as JSON (floats as bits).
fn training_record(trained: &super::TrainedModel) -> Value {
    let bits = |m: &std::collections::BTreeMap<String, f64>| -> Value {
        m.iter()
            .map(|(k, v)| (k.clone(), json!(v.to_bits())))
            .collect()
    };
    let bytes = trained.envelope.to_bytes().expect("encodes");
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "artifact_sha256": digest,
        "metrics": bits(&trained.metrics),
        "evaluated_on": trained.evaluated_on,
        "params": trained.params,
        "train_rows": trained.train_rows,
        "test_rows": trained.test_rows,
        "warnings": trained.warnings,
        "profile": trained.profile,
    })
}

/// Refactoring aid: with `QUARRY_TRAINING_SNAPSHOT=<file>` set, trains every
/// model of [`MODELS`] and [`TRAINING_RUNS`] and writes what each produced
/// (artifact digest, metrics as bits, params, warnings, profile) to the file
/// when it does not exist, else checks that training produces exactly that
/// again. Run it before and after changing training code that must not
/// change a model.
#[test]
#[ignore = "refactoring aid: compares training outputs with a snapshot"]
fn training_is_unchanged() {
    let Ok(path) = std::env::var("QUARRY_TRAINING_SNAPSHOT") else {
        panic!("set QUARRY_TRAINING_SNAPSHOT to the snapshot file");
    };
    let batch = training_batch(600);
    // A weight column and a leaking copy of the regression label.
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("w", DataType::Float64, false));
    fields.push(Field::new("leak", DataType::Float64, false));
    let mut columns = batch.columns().to_vec();
    let y = batch.column_by_name("y_num").expect("y_num").clone();
    columns.push(Arc::new(Float64Array::from_iter_values(
        (0..batch.num_rows()).map(|i| 1.0 + (i % 3) as f64),
    )));
    columns.push(y);
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    let ctx = TrainContext {
        threads: 2,
        progress: &|_| {},
        cancelled: &|| false,
    };
    let mut records = serde_json::Map::new();
    for (name, options) in MODELS.iter().chain(TRAINING_RUNS) {
        let mut options: Vec<(&str, &str)> = options.to_vec();
        if !options.iter().any(|(k, _)| *k == "features") {
            let exclude = options.iter().position(|(k, _)| *k == "exclude");
            let extra = match exclude {
                Some(i) => format!("{},w,leak", options[i].1),
                None => "w,leak".into(),
            };
            let extra: &'static str = Box::leak(extra.into_boxed_str());
            match exclude {
                Some(i) => options[i].1 = extra,
                None => options.push(("exclude", extra)),
            }
        }
        let parsed = TrainOptions::of(&options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let trained = train(batch.schema(), std::slice::from_ref(&batch), &parsed, &ctx)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        records.insert(name.to_string(), training_record(&trained));
    }
    // Through text, as the snapshot was: serde_json's float parsing need not
    // give back a float's exact bits, so both sides are compared as parsed.
    let text = serde_json::to_string_pretty(&Value::Object(records)).expect("json");
    let now: Value = serde_json::from_str(&text).expect("json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let before: Value = serde_json::from_str(&text).expect("snapshot json");
            let mut differ = Vec::new();
            for (name, record) in now.as_object().expect("object") {
                if before.get(name) != Some(record) {
                    differ.push(format!(
                        "{name}:\n  before {}\n  now    {}",
                        before.get(name).map(Value::to_string).unwrap_or_default(),
                        record
                    ));
                }
            }
            assert!(
                differ.is_empty(),
                "training changed:\n{}",
                differ.join("\n")
            );
        }
        Err(_) => std::fs::write(&path, text).expect("write"),
    }
}
