//! `ml_confusion_matrix(y, prediction)`: counts per (actual, predicted) label
//! as JSON, laid out as scikit-learn's `confusion_matrix`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;
use datafusion_macros::user_doc;
use serde_json::{Value, json};

use super::Metric;
use super::state::{LabelKind, LabelPairs};

#[user_doc(
    doc_section(label = "Evaluation"),
    description = "Aggregate: the confusion matrix as JSON text {\"labels\": [...], \"matrix\": [[...]]}: labels sorted as scikit-learn confusion_matrix does (the union of actual and predicted labels), matrix[i][j] = rows with actual label i predicted as j. For boolean or 0/1 labels it also has \"tn\", \"fp\", \"fn\", \"tp\". Any comparable label type, binary or multi-class, at most 1000 distinct labels. Rows with a NULL argument are skipped; no rows gives NULL. Errors: 42804 when the arguments cannot be compared; 22000 beyond 1000 labels.",
    syntax_example = "ml_confusion_matrix(y, prediction)",
    sql_example = r#"```sql
> SELECT ml_confusion_matrix(y, p) FROM (VALUES (1, 1), (0, 1), (1, 0), (1, 1), (0, 0)) t(y, p);
+---------------------------------------------------------------------+
| ml_confusion_matrix                                                 |
+---------------------------------------------------------------------+
| {"fn":1,"fp":1,"labels":[0,1],"matrix":[[1,1],[1,2]],"tn":1,"tp":2} |
+---------------------------------------------------------------------+
```"#,
    argument(name = "y", description = "The true label (boolean, number or text)."),
    argument(
        name = "prediction",
        description = "The predicted label, of a type comparable with y."
    )
)]
#[derive(Debug, Default)]
pub struct ConfusionMatrixUdaf;

fn label_json(kind: LabelKind, text: &str) -> Value {
    match kind {
        LabelKind::Boolean => Value::Bool(text == "true"),
        LabelKind::Number => serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(text.to_string())),
        LabelKind::Text => Value::String(text.to_string()),
    }
}

/// The JSON matrix of a label-pair state; None without rows.
pub fn confusion_json(state: &LabelPairs) -> Option<String> {
    if state.counts.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..state.names.len()).collect();
    let names = &state.names;
    match state.kind {
        LabelKind::Number => order.sort_by(|&a, &b| {
            let (x, y) = (names[a].parse::<f64>(), names[b].parse::<f64>());
            match (x, y) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => names[a].cmp(&names[b]),
            }
        }),
        // "false" < "true", and text sorts by code point as numpy does.
        LabelKind::Boolean | LabelKind::Text => order.sort_by(|&a, &b| names[a].cmp(&names[b])),
    }
    let mut position = vec![0; names.len()];
    for (at, &label) in order.iter().enumerate() {
        position[label] = at;
    }
    let k = order.len();
    let mut matrix = vec![vec![0u64; k]; k];
    for (&(actual, predicted), &count) in &state.counts {
        matrix[position[actual as usize]][position[predicted as usize]] += count;
    }
    let labels: Vec<Value> = order
        .iter()
        .map(|&i| label_json(state.kind, &names[i]))
        .collect();
    let mut out = json!({ "labels": labels, "matrix": matrix });
    let positive = |v: &Value| v == &Value::Bool(true) || v.as_f64() == Some(1.0);
    let negative = |v: &Value| v == &Value::Bool(false) || v.as_f64() == Some(0.0);
    if labels.iter().all(|v| positive(v) || negative(v)) {
        let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
        for (i, row) in matrix.iter().enumerate() {
            for (j, &count) in row.iter().enumerate() {
                match (positive(&labels[i]), positive(&labels[j])) {
                    (true, true) => tp += count,
                    (false, true) => fp += count,
                    (false, false) => tn += count,
                    (true, false) => fn_ += count,
                }
            }
        }
        out["tp"] = json!(tp);
        out["fp"] = json!(fp);
        out["tn"] = json!(tn);
        out["fn"] = json!(fn_);
    }
    Some(out.to_string())
}

impl Metric for ConfusionMatrixUdaf {
    const NAME: &'static str = "ml_confusion_matrix";
    const ARGS: &'static [&'static str] = &["y", "prediction"];
    type State = LabelPairs;

    fn return_type(&self) -> DataType {
        DataType::Utf8
    }

    fn evaluate(&self, state: &mut LabelPairs, _constants: &[f64]) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(confusion_json(state)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::functions::metrics::testing::run;

    fn text(v: ScalarValue) -> Value {
        match v {
            ScalarValue::Utf8(Some(s)) => serde_json::from_str(&s).expect("json"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn layout_follows_scikit_learn() {
        // confusion_matrix([2,0,2,2,0,1], [0,0,2,2,0,2]) == [[2,0,0],[0,0,1],[1,0,2]]
        let y: ArrayRef = Arc::new(Int64Array::from(vec![2, 0, 2, 2, 0, 1]));
        let p: ArrayRef = Arc::new(Int64Array::from(vec![0, 0, 2, 2, 0, 2]));
        let (whole, merged) = run::<ConfusionMatrixUdaf>(y, p, &[], 4).expect("matrix");
        let whole = text(whole);
        assert_eq!(whole["labels"], json!([0, 1, 2]));
        assert_eq!(whole["matrix"], json!([[2, 0, 0], [0, 0, 1], [1, 0, 2]]));
        assert!(whole.get("tp").is_none());
        assert_eq!(text(merged), whole);

        let y: ArrayRef = Arc::new(StringArray::from(vec![
            Some("cat"),
            Some("ant"),
            None,
            Some("cat"),
        ]));
        let p: ArrayRef = Arc::new(StringArray::from(vec![
            Some("ant"),
            Some("ant"),
            Some("cat"),
            Some("bird"),
        ]));
        let (whole, _) = run::<ConfusionMatrixUdaf>(y, p, &[], 1).expect("matrix");
        let whole = text(whole);
        assert_eq!(whole["labels"], json!(["ant", "bird", "cat"]));
        assert_eq!(whole["matrix"], json!([[1, 0, 0], [0, 0, 0], [1, 1, 0]]));
    }

    #[test]
    fn binary_labels_name_their_cells() {
        let y: ArrayRef = Arc::new(Int64Array::from(vec![1, 0, 1, 1, 0]));
        let p: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 0, 1, 0]));
        let (whole, _) = run::<ConfusionMatrixUdaf>(y, p, &[], 1).expect("matrix");
        let whole = text(whole);
        assert_eq!(whole["matrix"], json!([[1, 1], [1, 2]]));
        assert_eq!(
            (&whole["tp"], &whole["fp"], &whole["tn"], &whole["fn"]),
            (&json!(2), &json!(1), &json!(1), &json!(1))
        );
    }
}
