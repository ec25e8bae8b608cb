//! Preprocessing that is part of a model: fit on the training rows only,
//! stored in the artifact, replayed exactly when scoring.
//!
//! | step      | fit on training rows                       | at scoring                          |
//! |-----------|--------------------------------------------|-------------------------------------|
//! | impute    | mean / median / mode / constant            | NULL → that value                   |
//! | scale     | standard (mean, population sd), minmax, robust (median, IQR) | (x − center) / scale |
//! | onehot    | the most frequent levels, at most `max_categories` including `other` | unseen levels → `other` (or no column when every level fitted) |
//! | hash:N    | nothing                                    | FNV-1a(level) mod N → one of N columns |
//! | ordinal   | sorted levels                              | index; unseen → number of levels    |
//! | target    | smoothed mean label per level (m = 10)     | unseen → the overall mean           |
//!
//! A zero scale (a constant column) becomes 1, as in scikit-learn.

use std::collections::HashMap;

use datafusion::arrow::array::Array;
use serde::{Deserialize, Serialize};

use super::schema::{Feature, FeatureKind, Result, Values};
use crate::error::SqlStateError;
use crate::kernels::linalg::Matrix;

/// How missing values of a column are filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Impute {
    /// Missing stays missing (NaN), for models that route it themselves (trees);
    /// a missing category becomes the unseen-level code.
    Keep,
    Mean,
    Median,
    Mode,
    Constant(String),
}

/// How a numeric column is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    None,
    Standard,
    MinMax,
    Robust,
}

/// How a categorical column becomes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encode {
    OneHot { max_categories: usize },
    Hash { buckets: usize },
    Ordinal,
    Target,
}

/// Preprocessing choices for one column (from options and algorithm defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPlan {
    pub impute: Impute,
    pub scale: Scale,
    pub encode: Encode,
}

/// The fitted preprocessing of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step {
    /// `((x, or fill when NULL) − center) / scale`.
    Number { fill: f64, center: f64, scale: f64 },
    /// One column per level (plus `other` when some levels were folded).
    OneHot {
        levels: Vec<String>,
        other: bool,
        fill: Option<String>,
    },
    Hash {
        buckets: usize,
        fill: Option<String>,
    },
    Ordinal {
        levels: Vec<String>,
        fill: Option<String>,
        center: f64,
        scale: f64,
    },
    Target {
        levels: Vec<String>,
        values: Vec<f64>,
        default: f64,
        fill: Option<String>,
    },
}

impl Step {
    pub fn width(&self) -> usize {
        match self {
            Step::Number { .. } | Step::Ordinal { .. } | Step::Target { .. } => 1,
            Step::OneHot { levels, other, .. } => levels.len() + usize::from(*other),
            Step::Hash { buckets, .. } => *buckets,
        }
    }
}

/// Fitted preprocessing for all features; `steps[i]` belongs to feature `i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub steps: Vec<Step>,
}

/// FNV-1a, 64-bit: a stable hash so `hash:N` buckets never move between releases.
pub fn fnv1a(text: &str) -> u64 {
    fnv1a_extend(FNV_OFFSET, text.as_bytes())
}

pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a hash `h` over `bytes`.
pub fn fnv1a_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Linear interpolation, as numpy.quantile's default.
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn mode_f64(values: &[f64]) -> f64 {
    let mut counts: HashMap<u64, (usize, f64)> = HashMap::new();
    for &v in values {
        counts.entry(v.to_bits()).or_insert((0, v)).0 += 1;
    }
    counts
        .into_values()
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map_or(0.0, |(_, v)| v)
}

fn bad_option(feature: &str, message: String) -> SqlStateError {
    SqlStateError::bad_argument(format!("feature \"{feature}\": {message}"))
}

/// Level counts of a text column over `rows`, most frequent first (ties by name).
fn level_counts(
    values: &datafusion::arrow::array::StringArray,
    rows: &[usize],
) -> Vec<(String, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &i in rows {
        if values.is_valid(i) {
            *counts.entry(values.value(i)).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

impl Preprocessor {
    /// Fits one step per feature on the training `rows`. `target` is the
    /// numeric label (for target encoding), aligned with all rows.
    pub fn fit(
        features: &[Feature],
        columns: &[Values],
        plans: &[ColumnPlan],
        rows: &[usize],
        target: Option<&[f64]>,
    ) -> Result<Preprocessor> {
        let mut steps = Vec::with_capacity(features.len());
        for ((feature, column), plan) in features.iter().zip(columns).zip(plans) {
            let step = match (feature.kind, column) {
                (
                    FeatureKind::Numeric | FeatureKind::Boolean | FeatureKind::Temporal,
                    Values::Number(v),
                ) => {
                    let mut present: Vec<f64> = rows
                        .iter()
                        .filter(|&&i| v.is_valid(i))
                        .map(|&i| v.value(i))
                        .filter(|x| x.is_finite())
                        .collect();
                    present.sort_by(f64::total_cmp);
                    let fill = match &plan.impute {
                        Impute::Keep => f64::NAN,
                        Impute::Mean => present.iter().sum::<f64>() / present.len().max(1) as f64,
                        Impute::Median => quantile(&present, 0.5),
                        Impute::Mode => mode_f64(&present),
                        Impute::Constant(c) => c.trim().parse::<f64>().map_err(|_| {
                            bad_option(
                                &feature.name,
                                format!("impute constant must be a number, got {c:?}"),
                            )
                        })?,
                    };
                    // Scale statistics include the imputed values, as a pipeline
                    // of imputer then scaler computes them.
                    let missing = if fill.is_nan() {
                        0
                    } else {
                        rows.len() - present.len()
                    };
                    let (center, scale) = match plan.scale {
                        Scale::None => (0.0, 1.0),
                        Scale::Standard => {
                            let n = (present.len() + missing).max(1) as f64;
                            let mean = (present.iter().sum::<f64>() + fill * missing as f64) / n;
                            let var = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                                + missing as f64 * (fill - mean).powi(2))
                                / n;
                            (mean, var.sqrt())
                        }
                        Scale::MinMax => {
                            let lo = present.first().copied().unwrap_or(0.0).min(if missing > 0 {
                                fill
                            } else {
                                f64::INFINITY
                            });
                            let hi = present.last().copied().unwrap_or(0.0).max(if missing > 0 {
                                fill
                            } else {
                                f64::NEG_INFINITY
                            });
                            (lo, hi - lo)
                        }
                        Scale::Robust => {
                            let mut all = present.clone();
                            all.extend(std::iter::repeat_n(fill, missing));
                            all.sort_by(f64::total_cmp);
                            (
                                quantile(&all, 0.5),
                                quantile(&all, 0.75) - quantile(&all, 0.25),
                            )
                        }
                    };
                    let scale = if scale.is_finite() && scale.abs() > 0.0 {
                        scale
                    } else {
                        1.0
                    };
                    Step::Number {
                        fill,
                        center,
                        scale,
                    }
                }
                (FeatureKind::Categorical, Values::Text(v)) => {
                    let counts = level_counts(v, rows);
                    let fill = match &plan.impute {
                        Impute::Constant(c) => Some(c.clone()),
                        Impute::Keep => None,
                        // Mean and median make no sense for text: the most frequent level.
                        _ => counts.first().map(|(k, _)| k.clone()),
                    };
                    match plan.encode {
                        Encode::OneHot { max_categories } => {
                            let max = max_categories.max(1);
                            let (levels, other) = if counts.len() > max {
                                (
                                    counts
                                        .iter()
                                        .take(max - 1)
                                        .map(|(k, _)| k.clone())
                                        .collect(),
                                    true,
                                )
                            } else {
                                (
                                    counts.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
                                    false,
                                )
                            };
                            let mut levels = levels;
                            levels.sort();
                            Step::OneHot {
                                levels,
                                other,
                                fill,
                            }
                        }
                        Encode::Hash { buckets } => Step::Hash {
                            buckets: buckets.max(1),
                            fill,
                        },
                        Encode::Ordinal => {
                            let mut levels: Vec<String> =
                                counts.into_iter().map(|(k, _)| k).collect();
                            levels.sort();
                            let n = levels.len().max(1) as f64;
                            // Centre and scale the index like a standard-scaled number
                            // when scaling is on, so ordinal codes do not dominate.
                            let (center, scale) = match plan.scale {
                                Scale::None => (0.0, 1.0),
                                _ => ((n - 1.0) / 2.0, ((n * n - 1.0) / 12.0).sqrt().max(1.0)),
                            };
                            Step::Ordinal {
                                levels,
                                fill,
                                center,
                                scale,
                            }
                        }
                        Encode::Target => {
                            let Some(y) = target else {
                                return Err(bad_option(
                                    &feature.name,
                                    "target encoding needs a numeric or binary label".into(),
                                ));
                            };
                            let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
                            let mut total = (0.0f64, 0.0f64);
                            for &i in rows {
                                let key = if v.is_valid(i) {
                                    v.value(i)
                                } else {
                                    fill.as_deref().unwrap_or("")
                                };
                                let e = sums.entry(key).or_default();
                                e.0 += y[i];
                                e.1 += 1.0;
                                total.0 += y[i];
                                total.1 += 1.0;
                            }
                            let prior = total.0 / total.1.max(1.0);
                            let m = 10.0;
                            let mut pairs: Vec<(String, f64)> = sums
                                .into_iter()
                                .map(|(k, (s, n))| (k.to_string(), (s + m * prior) / (n + m)))
                                .collect();
                            pairs.sort_by(|a, b| a.0.cmp(&b.0));
                            Step::Target {
                                levels: pairs.iter().map(|p| p.0.clone()).collect(),
                                values: pairs.iter().map(|p| p.1).collect(),
                                default: prior,
                                fill,
                            }
                        }
                    }
                }
                _ => {
                    return Err(SqlStateError::new(
                        crate::error::sqlstate::INTERNAL_ERROR,
                        format!(
                            "internal error: feature {} has mismatched values",
                            feature.name
                        ),
                    ));
                }
            };
            steps.push(step);
        }
        Ok(Preprocessor { steps })
    }

    /// Width of the numeric matrix.
    pub fn width(&self) -> usize {
        self.steps.iter().map(Step::width).sum()
    }

    /// Names of the matrix columns, e.g. `age`, `city=Paris`, `city=other`.
    pub fn output_names(&self, features: &[Feature]) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for (f, step) in features.iter().zip(&self.steps) {
            match step {
                Step::Number { .. } | Step::Ordinal { .. } | Step::Target { .. } => {
                    names.push(f.name.clone())
                }
                Step::OneHot { levels, other, .. } => {
                    names.extend(levels.iter().map(|l| format!("{}={l}", f.name)));
                    if *other {
                        names.push(format!("{}=other", f.name));
                    }
                }
                Step::Hash { buckets, .. } => {
                    names.extend((0..*buckets).map(|b| format!("{}#{b}", f.name)));
                }
            }
        }
        names
    }

    /// The preprocessed matrix of all rows of `columns`.
    pub fn transform(&self, columns: &[Values]) -> Matrix {
        let n = columns.first().map_or(0, Values::len);
        let width = self.width();
        let mut m = Matrix::zeros(n, width);
        let lookups: Vec<Lookup<'_>> = self.steps.iter().map(Lookup::new).collect();
        // Row blocks: a block of the row-major matrix stays in cache while
        // every column writes its slots, instead of each column striding
        // through the whole matrix.
        const BLOCK: usize = 512;
        for start in (0..n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n);
            let mut offset = 0;
            for ((step, column), lookup) in self.steps.iter().zip(columns).zip(&lookups) {
                let w = step.width();
                match (step, column) {
                    (
                        Step::Number {
                            fill,
                            center,
                            scale,
                        },
                        Values::Number(v),
                    ) => {
                        let values = v.values();
                        let valid = v.nulls();
                        for i in start..end {
                            let x = values[i];
                            let x = if valid.is_none_or(|b| b.is_valid(i)) && x.is_finite() {
                                x
                            } else {
                                *fill
                            };
                            m.data[i * width + offset] = (x - center) / scale;
                        }
                    }
                    _ => {
                        for i in start..end {
                            let row = &mut m.data[i * width + offset..i * width + offset + w];
                            apply(step, lookup, column, i, row);
                        }
                    }
                }
                offset += w;
            }
        }
        m
    }

    /// `out[i] = intercept + Σ_j coef_j · transform(row i)_j`, computed column
    /// by column without materialising the matrix.
    pub fn linear(&self, columns: &[Values], coef: &[f64], intercept: f64, out: &mut Vec<f64>) {
        let n = columns.first().map_or(0, Values::len);
        out.clear();
        out.resize(n, intercept);
        let mut offset = 0;
        for (step, column) in self.steps.iter().zip(columns) {
            let w = &coef[offset..offset + step.width()];
            match (step, column) {
                (
                    Step::Number {
                        fill,
                        center,
                        scale,
                    },
                    Values::Number(v),
                ) => {
                    let a = w[0] / scale;
                    let filled = (fill - center) * a;
                    let values = v.values();
                    // NULL and non-finite values are imputed, as in `apply`;
                    // a select rather than a branch per row.
                    match v.nulls().filter(|n| n.null_count() > 0) {
                        None => {
                            for (o, x) in out.iter_mut().zip(values.iter()) {
                                *o += if x.is_finite() {
                                    (x - center) * a
                                } else {
                                    filled
                                };
                            }
                        }
                        Some(nulls) => {
                            for ((o, x), valid) in
                                out.iter_mut().zip(values.iter()).zip(nulls.iter())
                            {
                                *o += if valid && x.is_finite() {
                                    (x - center) * a
                                } else {
                                    filled
                                };
                            }
                        }
                    }
                }
                (
                    Step::OneHot {
                        levels,
                        other,
                        fill,
                    },
                    Values::Text(_) | Values::TextView(_),
                ) => {
                    // One weight per level, found without hashing: see `LevelWeights`.
                    let other_weight = if *other { w[levels.len()] } else { 0.0 };
                    let weights = LevelWeights::new(levels, w, other_weight);
                    let fill_weight = fill
                        .as_deref()
                        .map_or(other_weight, |f| weights.of(f.as_bytes()));
                    match column {
                        Values::TextView(v) => {
                            let views = v.views();
                            for (i, o) in out.iter_mut().enumerate() {
                                *o += if v.is_null(i) {
                                    fill_weight
                                } else {
                                    weights.of_view(views[i], || v.value(i))
                                };
                            }
                        }
                        Values::Text(v) => {
                            let offsets = v.value_offsets();
                            let bytes = v.value_data();
                            for (i, o) in out.iter_mut().enumerate() {
                                *o += if v.is_null(i) {
                                    fill_weight
                                } else {
                                    let (start, end) =
                                        (offsets[i] as usize, offsets[i + 1] as usize);
                                    weights.of_slice(bytes, start, end)
                                };
                            }
                        }
                        Values::Number(_) => {}
                    }
                }
                _ => {
                    let lookup = Lookup::new(step);
                    let mut row = vec![0.0; step.width()];
                    for (i, o) in out.iter_mut().enumerate() {
                        row.iter_mut().for_each(|r| *r = 0.0);
                        apply(step, &lookup, column, i, &mut row);
                        *o += row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
                    }
                }
            }
            offset += step.width();
        }
    }
}

/// A hash map with FNV-1a for level lookups while scoring: the default
/// SipHash costs more than the rest of a linear model's row. Keys are the
/// model's own levels, so hash flooding is not a concern.
type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// FNV-1a as a `Hasher` (a few lines; not worth a dependency).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The weight of each level of a one-hot column in a linear model. SipHash per
/// row cost more than the rest of a linear model's row, and a search through
/// the levels that stops at the match spends its time in mispredicted branches
/// (the level of the next row is as unpredictable as the data), so short
/// levels go in a small collision-free table (see [`ShortLevels`]).
struct LevelWeights<'a> {
    short: ShortLevels,
    /// Levels longer than 12 bytes, searched in turn when there are few.
    long: Vec<(&'a [u8], f64)>,
    long_hashed: Option<FastMap<&'a [u8], f64>>,
    /// The weight of a value that is none of the levels.
    other: f64,
}

/// Longer levels than this are hashed rather than compared one by one.
const SCANNED_LEVELS: usize = 16;

/// The Arrow string view of a string of at most 12 bytes: length, then the
/// bytes, zero-padded, little-endian.
fn inline_view(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > 12 {
        return None;
    }
    // Shifted in byte by byte: a copy loop becomes a call to memcpy, which
    // costs more than the rest of the lookup for at most 12 bytes.
    let mut view = bytes.len() as u128;
    for (i, b) in bytes.iter().enumerate() {
        view |= u128::from(*b) << (32 + 8 * i);
    }
    Some(view)
}

/// Levels of at most 12 bytes by their inline string view (length and bytes
/// in one `u128`). Usually a table where a multiplicative hash of the view
/// gives every level its own slot: one load and one comparison per row. The
/// multipliers are searched for when the table is built (hand-written: perfect
/// hashing crates build their tables at compile time or for `&str` keys, not
/// for a handful of `u128` keys per batch). When none is found quickly (many
/// levels), a hash map.
enum ShortLevels {
    Table {
        multipliers: (u64, u64),
        shift: u32,
        /// `(view, weight)`; an empty slot holds [`EMPTY_SLOT`], which no
        /// inline view equals (its length field is beyond 12).
        slots: Vec<(u128, f64)>,
    },
    Hashed(FastMap<u128, f64>),
}

const EMPTY_SLOT: u128 = u128::MAX;

/// Most short levels put in a table. The table is built for every batch, and
/// its multipliers are found within a few tries only while the levels are few
/// against the slots (by the birthday bound, 64 levels in up to 2048 slots
/// would need about a hundred tries, more than hashing a batch's rows costs).
const TABLE_LEVELS: usize = 16;

fn slot_of(view: u128, (m1, m2): (u64, u64), shift: u32) -> usize {
    let mixed = (view as u64).wrapping_mul(m1) ^ ((view >> 64) as u64).wrapping_mul(m2);
    (mixed >> shift) as usize
}

impl ShortLevels {
    fn new(levels: &[(u128, f64)], other: f64) -> Self {
        if levels.len() <= TABLE_LEVELS {
            // 8 to 32 times as many slots as levels: each try then succeeds
            // with a chance of a third or more (at most 512 slots of 24 bytes).
            let least = (8 * levels.len())
                .next_power_of_two()
                .trailing_zeros()
                .max(3);
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            for bits in least..=least + 2 {
                let shift = 64 - bits;
                for _ in 0..8 {
                    let multipliers = (splitmix64(&mut seed) | 1, splitmix64(&mut seed) | 1);
                    let mut slots = vec![(EMPTY_SLOT, other); 1 << bits];
                    let placed = levels.iter().all(|&(view, w)| {
                        let slot = &mut slots[slot_of(view, multipliers, shift)];
                        let free = slot.0 == EMPTY_SLOT;
                        *slot = (view, w);
                        free
                    });
                    if placed {
                        return ShortLevels::Table {
                            multipliers,
                            shift,
                            slots,
                        };
                    }
                }
            }
        }
        ShortLevels::Hashed(levels.iter().copied().collect())
    }

    #[inline]
    fn weight(&self, view: u128, other: f64) -> f64 {
        match self {
            ShortLevels::Table {
                multipliers,
                shift,
                slots,
            } => match slots.get(slot_of(view, *multipliers, *shift)) {
                Some(&(level, w)) if level == view => w,
                _ => other,
            },
            ShortLevels::Hashed(map) => map.get(&view).copied().unwrap_or(other),
        }
    }
}

/// A step of the SplitMix64 sequence (the multipliers need only be odd and
/// well mixed; the sequence is fixed so a model scores the same everywhere).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'a> LevelWeights<'a> {
    /// `weights[k]` is the weight of `levels[k]`.
    fn new(levels: &'a [String], weights: &[f64], other: f64) -> Self {
        let mut short = Vec::new();
        let mut long = Vec::new();
        for (level, &w) in levels.iter().zip(weights) {
            match inline_view(level.as_bytes()) {
                Some(view) => short.push((view, w)),
                None => long.push((level.as_bytes(), w)),
            }
        }
        let long_hashed = (long.len() > SCANNED_LEVELS).then(|| long.iter().copied().collect());
        LevelWeights {
            short: ShortLevels::new(&short, other),
            long,
            long_hashed,
            other,
        }
    }

    fn of(&self, value: &[u8]) -> f64 {
        match inline_view(value) {
            Some(view) => self.of_short(view),
            None => self.of_long(value),
        }
    }

    /// The weight of `bytes[start..end]`. A short value's view is made from
    /// one 16-byte load, masked to its length, when the buffer has 16 bytes
    /// from `start` (a byte loop per row cost more than the lookup).
    fn of_slice(&self, bytes: &[u8], start: usize, end: usize) -> f64 {
        let len = end - start;
        if len > 12 {
            return self.of_long(&bytes[start..end]);
        }
        let loaded = bytes
            .get(start..start + 16)
            .and_then(|chunk| <[u8; 16]>::try_from(chunk).ok());
        let view = match loaded {
            Some(chunk) => {
                let raw = u128::from_le_bytes(chunk) & ((1u128 << (8 * len)) - 1);
                (raw << 32) | len as u128
            }
            None => self::inline_view(&bytes[start..end]).unwrap_or_default(),
        };
        self.of_short(view)
    }

    /// The weight of the value whose string view is `view`; `value` gives its
    /// bytes when they are not inline.
    fn of_view<'v>(&self, view: u128, value: impl FnOnce() -> &'v str) -> f64 {
        if view as u32 > 12 {
            self.of_long(value().as_bytes())
        } else {
            self.of_short(view)
        }
    }

    #[inline]
    fn of_short(&self, view: u128) -> f64 {
        self.short.weight(view, self.other)
    }

    fn of_long(&self, value: &[u8]) -> f64 {
        let found = match &self.long_hashed {
            Some(map) => map.get(value).copied(),
            None => self
                .long
                .iter()
                .find_map(|&(l, w)| (l == value).then_some(w)),
        };
        found.unwrap_or(self.other)
    }
}

/// Level → column index maps built once per batch.
struct Lookup<'a> {
    index: FastMap<&'a str, usize>,
}

impl<'a> Lookup<'a> {
    fn new(step: &'a Step) -> Self {
        let levels: &[String] = match step {
            Step::OneHot { levels, .. }
            | Step::Ordinal { levels, .. }
            | Step::Target { levels, .. } => levels,
            _ => &[],
        };
        Lookup {
            index: levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i))
                .collect(),
        }
    }
}

fn text_at<'a>(column: &'a Values, i: usize, fill: &'a Option<String>) -> Option<&'a str> {
    match column {
        Values::Text(v) if v.is_valid(i) => Some(v.value(i)),
        Values::TextView(v) if v.is_valid(i) => Some(v.value(i)),
        Values::Text(_) | Values::TextView(_) => fill.as_deref(),
        Values::Number(_) => None,
    }
}

fn apply(step: &Step, lookup: &Lookup<'_>, column: &Values, i: usize, row: &mut [f64]) {
    match step {
        Step::Number {
            fill,
            center,
            scale,
        } => {
            let x = match column {
                Values::Number(v) if v.is_valid(i) && v.value(i).is_finite() => v.value(i),
                _ => *fill,
            };
            row[0] = (x - center) / scale;
        }
        Step::OneHot {
            levels,
            other,
            fill,
        } => match text_at(column, i, fill) {
            Some(level) => match lookup.index.get(level) {
                Some(&k) => row[k] = 1.0,
                None if *other => row[levels.len()] = 1.0,
                None => {}
            },
            None if *other => row[levels.len()] = 1.0,
            None => {}
        },
        Step::Hash { buckets, fill } => {
            if let Some(level) = text_at(column, i, fill) {
                row[(fnv1a(level) % *buckets as u64) as usize] = 1.0;
            }
        }
        Step::Ordinal {
            levels,
            fill,
            center,
            scale,
        } => {
            let k = text_at(column, i, fill)
                .and_then(|l| lookup.index.get(l).copied())
                .unwrap_or(levels.len());
            row[0] = (k as f64 - center) / scale;
        }
        Step::Target {
            values,
            default,
            fill,
            ..
        } => {
            row[0] = text_at(column, i, fill)
                .and_then(|l| lookup.index.get(l).map(|&k| values[k]))
                .unwrap_or(*default);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray, StringViewArray};

    fn numeric(name: &str) -> Feature {
        Feature {
            name: name.into(),
            kind: FeatureKind::Numeric,
            data_type: "Float64".into(),
        }
    }

    fn text(name: &str) -> Feature {
        Feature {
            name: name.into(),
            kind: FeatureKind::Categorical,
            data_type: "Utf8".into(),
        }
    }

    #[test]
    fn standard_scaling_matches_sklearn_pipeline() {
        // SimpleImputer(mean) then StandardScaler on [1, NULL, 3]: fill 2,
        // mean 2, population sd sqrt(2/3).
        let col = Values::Number(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let plan = ColumnPlan {
            impute: Impute::Mean,
            scale: Scale::Standard,
            encode: Encode::OneHot { max_categories: 20 },
        };
        let p = Preprocessor::fit(
            &[numeric("x")],
            std::slice::from_ref(&col),
            &[plan],
            &[0, 1, 2],
            None,
        )
        .expect("fit");
        let m = p.transform(&[col]);
        let sd = (2.0f64 / 3.0).sqrt();
        assert!((m.data[0] + 1.0 / sd).abs() < 1e-12);
        assert_eq!(m.data[1], 0.0);
        assert!((m.data[2] - 1.0 / sd).abs() < 1e-12);
    }

    #[test]
    fn onehot_folds_rare_levels_into_other_and_unseen_go_there() {
        let col = Values::Text(StringArray::from(vec!["a", "a", "b", "b", "c", "d"]));
        let plan = ColumnPlan {
            impute: Impute::Mode,
            scale: Scale::None,
            encode: Encode::OneHot { max_categories: 3 },
        };
        let p = Preprocessor::fit(&[text("t")], &[col], &[plan], &[0, 1, 2, 3, 4, 5], None)
            .expect("fit");
        assert_eq!(p.output_names(&[text("t")]), vec!["t=a", "t=b", "t=other"]);
        let m = p.transform(&[Values::Text(StringArray::from(vec![
            Some("b"),
            Some("zzz"),
            None,
        ]))]);
        assert_eq!(m.row(0), &[0.0, 1.0, 0.0]);
        assert_eq!(m.row(1), &[0.0, 0.0, 1.0]);
        // NULL is imputed with the mode ("a").
        assert_eq!(m.row(2), &[1.0, 0.0, 0.0]);
    }

    #[test]
    fn linear_shortcut_equals_matrix_product() {
        let num = Values::Number(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(5.0),
            Some(2.0),
        ]));
        let cat = Values::Text(StringArray::from(vec![
            Some("x"),
            Some("y"),
            None,
            Some("q"),
        ]));
        let plans = vec![
            ColumnPlan {
                impute: Impute::Median,
                scale: Scale::Robust,
                encode: Encode::OneHot { max_categories: 20 },
            },
            ColumnPlan {
                impute: Impute::Mode,
                scale: Scale::None,
                encode: Encode::Hash { buckets: 4 },
            },
        ];
        let features = [numeric("n"), text("c")];
        let cols = vec![num, cat];
        let p = Preprocessor::fit(&features, &cols, &plans, &[0, 1, 2, 3], None).expect("fit");
        let coef: Vec<f64> = (0..p.width()).map(|i| 0.5 + i as f64).collect();
        let m = p.transform(&cols);
        let mut fast = Vec::new();
        p.linear(&cols, &coef, 0.25, &mut fast);
        for (i, f) in fast.iter().enumerate() {
            let slow: f64 = 0.25 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
            assert!((f - slow).abs() < 1e-12);
        }
        // Non-finite values are imputed like NULLs, with and without NULLs.
        for num in [
            vec![Some(f64::NAN), Some(3.0), Some(f64::INFINITY), Some(2.0)],
            vec![Some(f64::NAN), None, Some(f64::NEG_INFINITY), Some(2.0)],
        ] {
            let cat = StringArray::from(vec![Some("x"), Some("y"), None, Some("q")]);
            let odd = vec![Values::Number(Float64Array::from(num)), Values::Text(cat)];
            let m = p.transform(&odd);
            p.linear(&odd, &coef, 0.25, &mut fast);
            for (i, f) in fast.iter().enumerate() {
                let slow: f64 = 0.25 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
                assert!((f - slow).abs() < 1e-12, "row {i}: {f} vs {slow}");
            }
        }
    }

    #[test]
    fn short_level_tables_find_every_level_and_nothing_else() {
        // Empty, table-sized and hashed level sets; names that differ only in
        // length, in their last inline byte, or that share their first bytes.
        for count in [0usize, 1, 2, 5, 16, 17, 64, 300] {
            let mut names: Vec<String> = (0..count).map(|k| format!("v{k:09}")).collect();
            if count > 2 {
                names[0] = String::new();
                names[1] = "\0".into();
            }
            let levels: Vec<(u128, f64)> = names
                .iter()
                .enumerate()
                .map(|(k, n)| (inline_view(n.as_bytes()).expect("short"), k as f64 + 0.5))
                .collect();
            let table = ShortLevels::new(&levels, -1.0);
            if count <= TABLE_LEVELS {
                assert!(matches!(table, ShortLevels::Table { .. }), "{count} levels");
            }
            for &(view, w) in &levels {
                assert_eq!(table.weight(view, -1.0), w, "{count} levels");
            }
            for other in ["v", "v0000000000", "zz", "\0\0", "v00000000x"] {
                if !names.iter().any(|n| n == other) {
                    let view = inline_view(other.as_bytes()).expect("short");
                    assert_eq!(table.weight(view, -1.0), -1.0, "{count} levels, {other}");
                }
            }
        }
    }

    #[test]
    fn onehot_over_string_views_matches_plain_strings() {
        // Few and many levels, short (inline in a view) and long names.
        for count in [3usize, 40, 150] {
            let names: Vec<String> = (0..count)
                .map(|k| {
                    if k % 3 == 0 {
                        format!("a fairly long level name {k}")
                    } else {
                        format!("l{k}")
                    }
                })
                .collect();
            let train: Vec<Option<&str>> = names
                .iter()
                .flat_map(|n| [Some(n.as_str()), Some(n.as_str())])
                .chain([None])
                .collect();
            let train = Values::Text(StringArray::from(train));
            let plans = vec![ColumnPlan {
                impute: Impute::Mode,
                scale: Scale::None,
                // Every level kept: 150 levels reach the hashed lookups.
                encode: Encode::OneHot {
                    max_categories: 200,
                },
            }];
            let rows: Vec<usize> = (0..train.len()).collect();
            let p = Preprocessor::fit(
                &[text("c")],
                std::slice::from_ref(&train),
                &plans,
                &rows,
                None,
            )
            .expect("fit");
            let score: Vec<Option<String>> = names
                .iter()
                .map(|n| Some(n.clone()))
                .chain([
                    None,
                    Some("unseen".into()),
                    Some("an unseen name longer than twelve".into()),
                    Some(String::new()),
                ])
                .collect();
            let plain = Values::Text(StringArray::from(score.clone()));
            let views = Values::TextView(StringViewArray::from(score));
            let coef: Vec<f64> = (0..p.width()).map(|i| 0.25 + i as f64).collect();
            let m = p.transform(std::slice::from_ref(&plain));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            p.linear(std::slice::from_ref(&plain), &coef, 0.5, &mut a);
            p.linear(std::slice::from_ref(&views), &coef, 0.5, &mut b);
            for i in 0..a.len() {
                let slow: f64 = 0.5 + m.row(i).iter().zip(&coef).map(|(x, c)| x * c).sum::<f64>();
                assert_eq!(a[i].to_bits(), slow.to_bits(), "{count} levels, row {i}");
                assert_eq!(
                    b[i].to_bits(),
                    slow.to_bits(),
                    "{count} levels, view row {i}"
                );
            }
        }
    }

    #[test]
    fn linear_shortcut_for_onehot_matches_the_matrix() {
        let train = Values::Text(StringArray::from(vec![
            Some("a"),
            Some("a"),
            Some("b"),
            Some("c"),
            None,
        ]));
        let features = [text("c")];
        for (max_categories, impute) in [
            (2, Impute::Mode),
            (20, Impute::Mode),
            (2, Impute::Keep),
            (20, Impute::Constant("zz".into())),
        ] {
            let plans = vec![ColumnPlan {
                impute: impute.clone(),
                scale: Scale::None,
                encode: Encode::OneHot { max_categories },
            }];
            let p = Preprocessor::fit(
                &features,
                std::slice::from_ref(&train),
                &plans,
                &[0, 1, 2, 3, 4],
                None,
            )
            .expect("fit");
            let score = Values::Text(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("c"),
                Some("unseen"),
                None,
            ]));
            let coef: Vec<f64> = (0..p.width()).map(|i| -1.5 + i as f64).collect();
            let m = p.transform(std::slice::from_ref(&score));
            let mut fast = Vec::new();
            p.linear(std::slice::from_ref(&score), &coef, 0.5, &mut fast);
            for (i, f) in fast.iter().enumerate() {
                let slow: f64 = 0.5 + m.row(i).iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>();
                assert_eq!(
                    f.to_bits(),
                    slow.to_bits(),
                    "{max_categories} {impute:?} row {i}"
                );
            }
        }
    }

    #[test]
    fn hash_buckets_are_stable() {
        assert_eq!(fnv1a("city_0001") % 64, fnv1a("city_0001") % 64);
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
    }
}
