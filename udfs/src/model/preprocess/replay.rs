//! Replaying a fitted preprocessing on the rows being scored: the numeric
//! matrix (`transform`), or, for linear models, the dot product with the
//! coefficients without building the matrix (`linear`).
//!
//! Scoring spends most of its time here, so categories are looked up in
//! tables built once per batch: short levels (≤ 12 bytes) by their inline
//! string view in a small collision-free table, longer ones by a scan or an
//! FNV hash map. Both paths give exactly what `transform` gives (tests).

use datafusion::arrow::array::Array;

use super::{Preprocessor, Step};
use crate::kernels::hash::{FastMap, fnv1a};
use crate::kernels::linalg::Matrix;
use crate::kernels::rng::SplitMix;
use crate::model::schema::Values;

impl Preprocessor {
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
            let mut rng = SplitMix(0x9e37_79b9_7f4a_7c15);
            for bits in least..=least + 2 {
                let shift = 64 - bits;
                for _ in 0..8 {
                    let multipliers = (rng.next_u64() | 1, rng.next_u64() | 1);
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

pub(super) fn text_at<'a>(
    column: &'a Values,
    i: usize,
    fill: &'a Option<String>,
) -> Option<&'a str> {
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
}
