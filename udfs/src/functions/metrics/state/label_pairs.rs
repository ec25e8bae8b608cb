//! LabelPairs: counts per (actual, predicted) label (confusion_matrix).

use super::*;

/// How labels of a confusion matrix print and sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    Boolean,
    Number,
    Text,
}

/// Labels a confusion matrix may have: it is for classes, not regression values.
pub const MAX_LABELS: usize = 1000;

/// Count per (actual, predicted) label, labels kept as their text form.
#[derive(Debug)]
pub struct LabelPairs {
    pub kind: LabelKind,
    index: HashMap<String, u32>,
    pub names: Vec<String>,
    pub counts: HashMap<(u32, u32), u64>,
}

impl LabelPairs {
    fn label(&mut self, call: Call, text: &str) -> Result<u32, SqlStateError> {
        if let Some(&i) = self.index.get(text) {
            return Ok(i);
        }
        if self.names.len() >= MAX_LABELS {
            return Err(SqlStateError::bad_data(format!(
                "{}: more than {MAX_LABELS} distinct labels; it counts class labels, not continuous values",
                call.function
            )));
        }
        let i = self.names.len() as u32;
        self.index.insert(text.to_string(), i);
        self.names.push(text.to_string());
        Ok(i)
    }

    fn add(&mut self, call: Call, y: &str, p: &str, count: u64) -> Result<(), SqlStateError> {
        let key = (self.label(call, y)?, self.label(call, p)?);
        *self.counts.entry(key).or_default() += count;
        Ok(())
    }
}

fn texts(array: &ArrayRef) -> Result<ArrayRef, SqlStateError> {
    cast(array, &DataType::Utf8).map_err(|e| {
        SqlStateError::new(
            sqlstate::DATATYPE_MISMATCH,
            format!("labels cannot be shown as text: {e}"),
        )
    })
}

impl MetricState for LabelPairs {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Agreement::coerce(call, types)
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "actual", list_of(DataType::Utf8)),
            field(name, "predicted", list_of(DataType::Utf8)),
            field(name, "count", list_of(DataType::UInt64)),
        ]
    }

    fn new(_call: Call, inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        let kind = match inputs.first().map(|f| f.data_type()) {
            Some(DataType::Boolean) => LabelKind::Boolean,
            Some(t) if t.is_numeric() => LabelKind::Number,
            _ => LabelKind::Text,
        };
        Ok(LabelPairs {
            kind,
            index: HashMap::new(),
            names: Vec::new(),
            counts: HashMap::new(),
        })
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let (y, p) = (texts(y)?, texts(p)?);
        let (y, p) = (y.as_string::<i32>(), p.as_string::<i32>());
        for i in 0..y.len() {
            if y.is_valid(i) && p.is_valid(i) {
                self.add(call, y.value(i), p.value(i), 1)?;
            }
        }
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        let mut actual = Vec::with_capacity(self.counts.len());
        let mut predicted = Vec::with_capacity(self.counts.len());
        let mut counts = Vec::with_capacity(self.counts.len());
        for (&(a, p), &c) in &self.counts {
            actual.push(self.names[a as usize].as_str());
            predicted.push(self.names[p as usize].as_str());
            counts.push(c);
        }
        let text_list = |values: Vec<&str>| list_value(Arc::new(StringArray::from(values)));
        let count_list = list_value(Arc::new(UInt64Array::from(counts)));
        Ok(vec![text_list(actual), text_list(predicted), count_list])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let call = Call {
            function: "ml_confusion_matrix",
            args: &[],
        };
        let (a, p, c) = (lists(&states[0])?, lists(&states[1])?, lists(&states[2])?);
        let (av, pv) = (
            a.values().as_string_opt::<i32>(),
            p.values().as_string_opt::<i32>(),
        );
        let (Some(av), Some(pv)) = (av, pv) else {
            return Err(internal("confusion matrix state is not text".into()));
        };
        let cv = u64s(c.values())?;
        for i in 0..av.len() {
            self.add(call, av.value(i), pv.value(i), cv.value(i))
                .map_err(SqlStateError::into_df)?;
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        self.names
            .iter()
            .map(|n| 2 * n.capacity() + 48)
            .sum::<usize>()
            + self.counts.len() * 32
    }
}
