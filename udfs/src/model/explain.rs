//! Per-row explanations: a base value and one additive contribution per
//! input feature, in the model's raw output space.
//!
//! | model                        | explained output               | method |
//! |------------------------------|--------------------------------|--------|
//! | linear, ridge, lasso         | the prediction                 | coef × (x − training mean), exact |
//! | logistic (binary)            | log-odds of the positive class | same, in margin space |
//! | logistic (multi-class)       | the predicted class's logit    | same |
//! | gbdt                         | raw margin (log-odds, per-class score, value) | TreeSHAP |
//! | random_forest, decision_tree | positive-class frequency, predicted class's frequency, or value | TreeSHAP |
//!
//! `base + Σ contributions` equals the explained output. Each algorithm's
//! module computes contributions per matrix column (`Fitted::contributions`);
//! here they are summed back into the input feature that produced the column
//! (one-hot and hashed columns of a category add up).

use datafusion::arrow::array::ArrayRef;

use super::algorithms;
use super::artifact::LoadedModel;
use super::schema::Result;
use crate::error::SqlStateError;

/// Explanations of a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// Per row: the expected output with no feature known.
    pub base: Vec<f64>,
    /// Row-major `rows × features`, in the model's feature order.
    pub contributions: Vec<f64>,
    pub features: usize,
}

impl Explained {
    pub fn rows(&self) -> usize {
        self.base.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.contributions[i * self.features..(i + 1) * self.features]
    }

    /// The explained output of row `i`: base plus every contribution.
    pub fn output(&self, i: usize) -> f64 {
        self.base[i] + self.row(i).iter().sum::<f64>()
    }
}

impl LoadedModel {
    /// Whether [`LoadedModel::explain`] supports this model's kind.
    pub fn explainable(&self) -> Result<()> {
        let kind = &self.envelope.kind;
        if algorithms::by_name(kind).is_some_and(|a| a.explains()) {
            return Ok(());
        }
        let explained: Vec<&str> = algorithms::ALL
            .iter()
            .filter(|a| a.explains())
            .map(|a| a.name())
            .collect();
        let (last, rest) = explained.split_last().unwrap_or((&"", &[]));
        Err(SqlStateError::unsupported(format!(
            "ml_explain: {kind} models have no per-feature explanation; explanations cover {} and {last}",
            rest.join(", ")
        )))
    }

    /// Base values and per-feature contributions of every row of `inputs`
    /// (arrays in feature order).
    pub fn explain(&self, inputs: &[ArrayRef]) -> Result<Explained> {
        self.explainable()?;
        let columns = inputs
            .iter()
            .zip(&self.envelope.features)
            .map(|(a, f)| super::schema::scoring_values(&f.name, a, f.kind))
            .collect::<Result<Vec<_>>>()?;
        let pre = &self.envelope.preprocessing;
        let m = pre.transform(&columns);
        let (rows, cols) = (m.rows, m.cols);
        let mut base = Vec::with_capacity(rows);
        // Matrix-column contributions of the explained output, per row.
        let mut per_column = vec![0.0; rows * cols];
        let reference = self.reference_point(cols);
        self.envelope
            .payload
            .fitted()
            .contributions(&m, &reference, &mut base, &mut per_column)?;
        // Sum matrix columns back into the input features that made them.
        let features = self.envelope.features.len();
        let widths: Vec<usize> = pre.steps.iter().map(|s| s.width()).collect();
        let mut contributions = vec![0.0; rows * features];
        for i in 0..rows {
            let mut at = 0;
            for (f, &w) in widths.iter().enumerate() {
                let end = (at + w).min(cols);
                contributions[i * features + f] =
                    per_column[i * cols + at..i * cols + end].iter().sum();
                at = end;
            }
        }
        Ok(Explained {
            base,
            contributions,
            features,
        })
    }

    /// Training means of the matrix columns (zeros for artifacts written
    /// before format 2, which did not keep them: their base value is the
    /// intercept).
    fn reference_point(&self, cols: usize) -> Vec<f64> {
        match self.envelope.column_means() {
            Some(m) if m.len() == cols => m.to_vec(),
            _ => vec![0.0; cols],
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Float64Type};

    use super::*;
    use crate::kernels::linalg::dot;
    use crate::model::Payload;
    use crate::model::algorithms::linear::Linear;
    use crate::model::algorithms::logistic::Logistic;
    use crate::model::{TrainContext, TrainOptions, train};

    fn trained(batch: &RecordBatch, options: &[(&str, &str)]) -> LoadedModel {
        let options = TrainOptions::of(options).expect("options");
        let ctx = TrainContext {
            threads: 2,
            progress: &|_| {},
            cancelled: &|| false,
        };
        let m = train(batch.schema(), std::slice::from_ref(batch), &options, &ctx).expect("trains");
        LoadedModel::new("m", 1, m.envelope).expect("loads")
    }

    fn inputs(model: &LoadedModel, batch: &RecordBatch) -> Vec<ArrayRef> {
        model
            .features()
            .iter()
            .map(|f| batch.column_by_name(&f.name).expect("feature").clone())
            .collect()
    }

    /// The raw output each row's explanation must add up to, computed from
    /// the payload without any explanation code.
    fn raw_outputs(model: &LoadedModel, inputs: &[ArrayRef]) -> Vec<f64> {
        let columns: Vec<_> = inputs
            .iter()
            .zip(model.features())
            .map(|(a, f)| super::super::schema::scoring_values(&f.name, a, f.kind).expect("values"))
            .collect();
        let m = model.envelope.preprocessing.transform(&columns);
        let pick = |scores: &[f64], k: usize| -> Vec<f64> {
            scores
                .chunks(k)
                .map(|r| r.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                .collect()
        };
        match &model.envelope.payload {
            Payload::Linear(Linear { coef, intercept }) => (0..m.rows)
                .map(|i| intercept + dot(coef, m.row(i)))
                .collect(),
            Payload::Logistic(Logistic {
                coef, intercept, ..
            }) => {
                let k = intercept.len();
                let logits: Vec<f64> = (0..m.rows)
                    .flat_map(|i| {
                        (0..k)
                            .map(|c| {
                                intercept[c] + dot(&coef[c * m.cols..(c + 1) * m.cols], m.row(i))
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect();
                pick(&logits, k)
            }
            Payload::Gbdt(g) => pick(&g.raw(&m.data, m.cols), g.outputs().max(1)),
            Payload::Forest(f) => pick(&f.predict(&m.data, m.cols), f.outputs.max(1)),
            _ => panic!("not explainable"),
        }
    }

    fn assert_additive(model: &LoadedModel, batch: &RecordBatch) -> Explained {
        let inputs = inputs(model, batch);
        let e = model.explain(&inputs).expect("explains");
        let raw = raw_outputs(model, &inputs);
        assert_eq!(e.rows(), batch.num_rows());
        for (i, r) in raw.iter().enumerate() {
            assert!(
                (e.output(i) - r).abs() <= 1e-9 * r.abs().max(1.0),
                "{}: row {i}: base + contributions {} != raw {r}",
                model.envelope.kind,
                e.output(i)
            );
        }
        e
    }

    #[test]
    fn base_plus_contributions_is_the_raw_output_for_every_kind() {
        let batch = super::super::golden::training_batch(400);
        let common = [("exclude", "y_bool,y_text,y_num"), ("seed", "5")];
        let cases: [&[(&str, &str)]; 9] = [
            &[
                ("algorithm", "gbdt"),
                ("label", "y_bool"),
                ("rounds", "20"),
                ("max_depth", "4"),
            ],
            &[("algorithm", "gbdt"), ("label", "y_text"), ("rounds", "10")],
            &[("algorithm", "gbdt"), ("label", "y_num"), ("rounds", "15")],
            &[
                ("algorithm", "random_forest"),
                ("label", "y_bool"),
                ("trees", "10"),
            ],
            &[
                ("algorithm", "random_forest"),
                ("label", "y_text"),
                ("trees", "8"),
            ],
            &[
                ("algorithm", "decision_tree"),
                ("label", "y_num"),
                ("max_depth", "5"),
            ],
            &[("algorithm", "logistic"), ("label", "y_bool")],
            &[("algorithm", "logistic"), ("label", "y_text")],
            &[("algorithm", "ridge"), ("label", "y_num")],
        ];
        for case in cases {
            let mut options = case.to_vec();
            options.extend(common);
            let model = trained(&batch, &options);
            assert_additive(&model, &batch);
            // Positive-class probabilities are the sigmoid of the explained log-odds.
            if model.envelope.kind == "logistic"
                && model.proba_type().ok() == Some(DataType::Float64)
            {
                let inputs = inputs(&model, &batch);
                let e = model.explain(&inputs).expect("explains");
                let p = model.predict_proba(&inputs).expect("proba");
                let p = p.as_primitive::<Float64Type>();
                for i in 0..p.len() {
                    let z = e.output(i);
                    assert!((1.0 / (1.0 + (-z).exp()) - p.value(i)).abs() < 1e-12);
                }
            }
            // The stored global importance covers every feature.
            let (shap, rows) = model.envelope.mean_abs_contribution().expect("importance");
            assert_eq!(shap.len(), model.features().len());
            assert!(rows > 0 && shap.iter().any(|&v| v > 0.0));
        }
    }

    #[test]
    fn linear_contributions_are_coefficient_times_distance_from_the_mean() {
        let batch = super::super::golden::training_batch(300);
        let model = trained(
            &batch,
            &[
                ("algorithm", "linear"),
                ("label", "y_num"),
                ("exclude", "y_bool,y_text,ts"),
                ("split", "none"),
            ],
        );
        let e = assert_additive(&model, &batch);
        let x_at = model
            .features()
            .iter()
            .position(|f| f.name == "x")
            .expect("x");
        let x = batch
            .column_by_name("x")
            .expect("x")
            .as_primitive::<Float64Type>()
            .clone();
        // Over the training rows every feature's contributions average to 0
        // (x − mean), and x's contribution is one coefficient times its
        // distance from the training mean: the ratio is constant.
        for f in 0..e.features {
            let mean: f64 = (0..e.rows()).map(|i| e.row(i)[f]).sum::<f64>() / e.rows() as f64;
            assert!(mean.abs() < 1e-9, "feature {f} mean contribution {mean}");
        }
        let rows: Vec<usize> = (0..x.len()).filter(|&i| x.is_valid(i)).collect();
        let mean_x = rows.iter().map(|&i| x.value(i)).sum::<f64>() / rows.len() as f64;
        let slopes: Vec<f64> = rows
            .iter()
            .filter(|&&i| (x.value(i) - mean_x).abs() > 0.5)
            .map(|&i| e.row(i)[x_at] / (x.value(i) - mean_x))
            .collect();
        let slope = slopes[0];
        assert!((slope - 2.0).abs() < 0.1, "coefficient of x {slope}");
        // NULL x rows are imputed with the mean, so they do not move it.
        for s in &slopes {
            assert!((s - slope).abs() < 1e-9 * slope.abs(), "{s} vs {slope}");
        }
    }

    #[test]
    fn models_without_explanations_say_so() {
        let batch = super::super::golden::training_batch(200);
        let model = trained(
            &batch,
            &[
                ("algorithm", "kmeans"),
                ("k", "3"),
                ("exclude", "y_bool,y_text,y_num"),
            ],
        );
        let err = model.explainable().expect_err("kmeans");
        assert_eq!(err.code, "0A000");
        assert!(model.envelope.mean_abs_contribution().is_none());
    }
}
