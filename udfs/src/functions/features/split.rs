//! `ml_split(key, test_fraction [, seed])`: a stable train/test assignment.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion_macros::user_doc;

use super::as_text;
use crate::error::{SqlStateError, sqlstate};
use crate::kernels::hash::{FNV_OFFSET, fnv1a_extend};

pub const NAME: &str = "ml_split";

#[user_doc(
    doc_section(label = "Features"),
    description = "'test' or 'train' for a key, stable: the same key, fraction and seed give the same answer on every run, machine and release, whatever else is in the table, so a split survives new rows and re-runs. A key goes to 'test' when a uniform number drawn from its text (FNV-1a over the seed and the key, then a SplitMix64 finalizer) is below test_fraction, so about that fraction of distinct keys is test. Splitting by an entity key (customer_id) keeps all of one entity's rows on one side. NULL key gives NULL. Errors: 22023 when test_fraction is not between 0 and 1.",
    syntax_example = "ml_split(key, test_fraction [, seed])",
    sql_example = r#"```sql
> SELECT ml_split(customer_id, 0.2) AS side, count(*) FROM customers GROUP BY 1 ORDER BY 1;
+-------+-------+
| side  | count |
+-------+-------+
| test  | 10054 |
| train | 39946 |
+-------+-------+
```"#,
    argument(
        name = "key",
        description = "The value that decides the side: an id, or any value with a text form."
    ),
    argument(
        name = "test_fraction",
        description = "The share of keys that go to 'test', from 0 to 1."
    ),
    argument(
        name = "seed",
        description = "Optional integer (default 0): another seed gives another split."
    )
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SplitUdf {
    signature: Signature,
}

impl SplitUdf {
    pub fn new() -> Self {
        SplitUdf {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for SplitUdf {
    fn default() -> Self {
        Self::new()
    }
}

/// SplitMix64's finalizer: spreads FNV's low-entropy high bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from a key's text and a seed: the hash runs
/// over the seed, a separator and the key, with no per-row string built.
pub fn draw(key: &str, seed: i64) -> f64 {
    let h = fnv1a_extend(fnv1a_extend(FNV_OFFSET, &seed.to_le_bytes()), &[0x1f]);
    let h = mix(fnv1a_extend(h, key.as_bytes()));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

pub fn side(key: &str, fraction: f64, seed: i64) -> &'static str {
    if draw(key, seed) < fraction {
        "test"
    } else {
        "train"
    }
}

impl ScalarUDFImpl for SplitUdf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !(2..=3).contains(&arg_types.len()) {
            return Err(SqlStateError::new(
                sqlstate::UNDEFINED_FUNCTION,
                format!(
                    "{NAME}: expected (key, test_fraction [, seed]), got {} arguments",
                    arg_types.len()
                ),
            )
            .into_df());
        }
        if !(arg_types[1].is_numeric() || arg_types[1].is_null()) {
            return Err(SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "{NAME}: test_fraction must be a number, got {}",
                    arg_types[1]
                ),
            )
            .into_df());
        }
        if let Some(t) = arg_types.get(2)
            && !(t.is_integer() || t.is_null())
        {
            return Err(SqlStateError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!("{NAME}: seed must be an integer, got {t}"),
            )
            .into_df());
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let keys =
            as_text(NAME, "key", &args.args[0].to_array(n)?).map_err(SqlStateError::into_df)?;
        let keys = keys.as_string::<i32>();
        let fractions = args.args[1]
            .cast_to(&DataType::Float64, None)?
            .to_array(n)?;
        let fractions = fractions.as_primitive::<Float64Type>();
        let seeds = match args.args.get(2) {
            Some(s) => Some(s.cast_to(&DataType::Int64, None)?.to_array(n)?),
            None => None,
        };
        let seeds = seeds.as_ref().map(|s| s.as_primitive::<Int64Type>());
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let fraction = fractions.is_valid(i).then(|| fractions.value(i));
            match fraction {
                Some(f) if (0.0..=1.0).contains(&f) => {}
                None => {}
                Some(f) => {
                    return Err(SqlStateError::arg(
                        NAME,
                        "test_fraction",
                        "must be between 0 and 1",
                        f,
                    )
                    .into_df());
                }
            }
            let seed = seeds.map_or(Some(0), |s| s.is_valid(i).then(|| s.value(i)));
            out.push(match (keys.is_valid(i), fraction, seed) {
                (true, Some(f), Some(s)) => Some(side(keys.value(i), f, s)),
                _ => None,
            });
        }
        let array = StringArray::from(out);
        Ok(
            if args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(array))
            },
        )
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_and_near_the_fraction() {
        let test = (0..100_000)
            .filter(|k| side(&k.to_string(), 0.2, 0) == "test")
            .count();
        assert!((19_500..20_500).contains(&test), "{test}");
        assert_eq!(side("42", 0.2, 0), side("42", 0.2, 0));
        // A larger fraction only adds keys to test.
        for k in 0..1000 {
            let key = k.to_string();
            if side(&key, 0.1, 7) == "test" {
                assert_eq!(side(&key, 0.3, 7), "test");
            }
        }
        // Another seed is another split.
        let moved = (0..1000)
            .filter(|k| side(&k.to_string(), 0.5, 1) != side(&k.to_string(), 0.5, 2))
            .count();
        assert!(moved > 300, "{moved}");
        assert_eq!(side("x", 0.0, 0), "train");
        assert_eq!(side("x", 1.0, 0), "test");
    }
}
