//! Residuals: regression residual sums and the moments of y (rmse, mae, mape, r2).

use super::*;

/// Regression residual sums and the running mean and M2 of y (Chan et al.'s
/// parallel variance, so R² does not cancel catastrophically). The mean is
/// kept relative to a shift (the first y seen): for y near 1e9 the means of
/// two partitions differ by far less than their rounding error, and only
/// shifted values keep that difference exact.
#[derive(Debug, Default)]
pub struct Residuals {
    pub rows: u64,
    pub squared: Sum,
    pub absolute: Sum,
    pub relative: Sum,
    shift: Option<f64>,
    /// Mean of y − shift.
    mean: f64,
    m2: f64,
}

impl Residuals {
    /// Folds in a block of `n` values of y − shift with mean `mean` and M2 `m2`.
    fn combine(&mut self, n: u64, mean: f64, m2: f64) {
        if n == 0 {
            return;
        }
        let total = self.rows + n;
        let delta = mean - self.mean;
        self.mean += delta * n as f64 / total as f64;
        self.m2 += m2 + delta * delta * self.rows as f64 * n as f64 / total as f64;
        self.rows = total;
    }

    /// SS_tot = Σ(y − ȳ)².
    pub fn total_squares(&self) -> f64 {
        self.m2
    }
}

impl MetricState for Residuals {
    fn coerce(call: Call, types: &[DataType]) -> Result<Vec<DataType>, SqlStateError> {
        Ok(vec![
            coerce_number(call, 0, &types[0])?,
            coerce_number(call, 1, &types[1])?,
        ])
    }

    fn fields(name: &str) -> Vec<FieldRef> {
        vec![
            field(name, "rows", DataType::UInt64),
            field(name, "squared", DataType::Float64),
            field(name, "absolute", DataType::Float64),
            field(name, "relative", DataType::Float64),
            field(name, "shift", DataType::Float64),
            field(name, "mean", DataType::Float64),
            field(name, "m2", DataType::Float64),
        ]
    }

    fn new(_call: Call, _inputs: &[FieldRef]) -> Result<Self, SqlStateError> {
        Ok(Self::default())
    }

    fn update(&mut self, call: Call, y: &ArrayRef, p: &ArrayRef) -> Result<(), SqlStateError> {
        let y = floats(y)?;
        let p = floats(p)?;
        let valid = valid_rows(y, p);
        let (yv, pv) = (y.values(), p.values());
        let rows: Vec<usize> = match &valid {
            Some(v) => v.valid_indices().collect(),
            None => (0..yv.len()).collect(),
        };
        if let Some(&i) = rows
            .iter()
            .find(|&&i| !yv[i].is_finite() || !pv[i].is_finite())
        {
            let which = if yv[i].is_finite() { 1 } else { 0 };
            return Err(SqlStateError::bad_data(format!(
                "{}: {} is {} (NaN and infinity have no error)",
                call.function,
                call.arg(which),
                if which == 0 { yv[i] } else { pv[i] }
            )));
        }
        if rows.is_empty() {
            return Ok(());
        }
        // scikit-learn divides by max(|y|, machine epsilon) in MAPE.
        let eps = f64::EPSILON;
        let shift = *self.shift.get_or_insert(yv[rows[0]]);
        let mut mean = Sum::default();
        for &i in &rows {
            let r = yv[i] - pv[i];
            self.squared.add(r * r);
            self.absolute.add(r.abs());
            self.relative.add(r.abs() / yv[i].abs().max(eps));
            mean.add(yv[i] - shift);
        }
        // Two passes over the batch, then Chan's merge into the running moments.
        let n = rows.len() as u64;
        let batch_mean = mean.value() / n as f64;
        let mut m2 = Sum::default();
        for &i in &rows {
            let d = (yv[i] - shift) - batch_mean;
            m2.add(d * d);
        }
        self.combine(n, batch_mean, m2.value());
        Ok(())
    }

    fn take(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::UInt64(Some(self.rows)),
            ScalarValue::Float64(Some(self.squared.value())),
            ScalarValue::Float64(Some(self.absolute.value())),
            ScalarValue::Float64(Some(self.relative.value())),
            ScalarValue::Float64(Some(self.shift.unwrap_or(0.0))),
            ScalarValue::Float64(Some(self.mean)),
            ScalarValue::Float64(Some(self.m2)),
        ])
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = u64s(&states[0])?;
        let [squared, absolute, relative, shift, mean, m2] =
            [1, 2, 3, 4, 5, 6].map(|i| f64s(&states[i]));
        let (squared, absolute, relative, shift, mean, m2) =
            (squared?, absolute?, relative?, shift?, mean?, m2?);
        for i in 0..rows.len() {
            if rows.is_null(i) || rows.value(i) == 0 {
                continue;
            }
            self.squared.add(squared.value(i));
            self.absolute.add(absolute.value(i));
            self.relative.add(relative.value(i));
            // The partial mean relative to our shift; shifts of one data set
            // are close, so their difference is exact (Sterbenz).
            let own = *self.shift.get_or_insert(shift.value(i));
            let partial_mean = (shift.value(i) - own) + mean.value(i);
            self.combine(rows.value(i), partial_mean, m2.value(i));
        }
        Ok(())
    }

    fn heap_size(&self) -> usize {
        0
    }
}
