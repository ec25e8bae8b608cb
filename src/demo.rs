//! Demo tables, generated deterministically on an empty data directory.
//!
//! | table              | rows   | for                                             |
//! |--------------------|--------|-------------------------------------------------|
//! | `customers`        | 50 000 | churn classification: nulls, a 2 000-value `city`, signup timestamps, a label that depends on the features non-linearly |
//! | `customers_recent` | 10 000 | the same schema, drifted: `monthly_fee`, `age`, `support_calls` and `region` shift; every other column keeps its distribution |
//! | `house_prices`     | 20 000 | regression with interactions and a skewed target |
//! | `daily_sales`      | 10 960 | 10 stores × 1 096 days: trend, weekly and yearly seasonality, promotions |
//!
//! The random numbers come from SplitMix64 written out here rather than from a
//! crate, so the data (and every fixture computed from it) stays identical
//! across dependency upgrades.

use quarry_udfs::kernels::special::sigmoid;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tracing::info;

use crate::catalog::{Catalog, DEFAULT_SCHEMA, RelName};
use crate::error::{Result, SqlStateError};

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and stable forever.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Picks an index with the given relative weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Poisson by inversion; fine for the small means used here.
    pub fn poisson(&mut self, mean: f64) -> i32 {
        let l = (-mean).exp();
        let mut k = 0;
        let mut p = 1.0;
        loop {
            p *= self.uniform();
            if p <= l || k > 100 {
                return k;
            }
            k += 1;
        }
    }
}

const REGIONS: &[&str] = &["north", "south", "east", "west", "central"];
const PLANS: &[&str] = &["basic", "standard", "premium"];
const DEVICES: &[&str] = &["ios", "android", "web"];
const PAYMENTS: &[&str] = &["card", "bank_transfer", "paypal", "invoice"];
const GENDERS: &[&str] = &["female", "male", "other"];
const CITIES: u64 = 2000;

fn customer_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "signup_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("age", DataType::Int32, true),
        Field::new("gender", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("device", DataType::Utf8, false),
        Field::new("payment_method", DataType::Utf8, false),
        Field::new("monthly_fee", DataType::Float64, false),
        Field::new("tenure_months", DataType::Int32, false),
        Field::new("support_calls", DataType::Int32, false),
        Field::new("usage_minutes", DataType::Float64, true),
        Field::new("last_login_days", DataType::Int32, false),
        Field::new("has_discount", DataType::Boolean, false),
        Field::new("churned", DataType::Boolean, false),
    ]))
}

/// How `customers_recent` differs from `customers`.
#[derive(Clone, Copy)]
struct Drift {
    fee_factor: f64,
    age_shift: f64,
    extra_calls: f64,
    region_weights: [f64; 5],
}

const NO_DRIFT: Drift = Drift {
    fee_factor: 1.0,
    age_shift: 0.0,
    extra_calls: 0.0,
    region_weights: [0.25, 0.2, 0.2, 0.2, 0.15],
};

const RECENT_DRIFT: Drift = Drift {
    fee_factor: 1.18,
    age_shift: 6.0,
    extra_calls: 1.2,
    region_weights: [0.1, 0.15, 0.2, 0.2, 0.35],
};

fn customers(
    rows: usize,
    seed: u64,
    first_id: i64,
    start_us: i64,
    span_days: f64,
    drift: Drift,
) -> Result<RecordBatch> {
    let mut rng = Rng::new(seed);
    let mut id = Int64Builder::with_capacity(rows);
    let mut signup = TimestampMicrosecondBuilder::with_capacity(rows);
    let mut age = Int32Builder::with_capacity(rows);
    let mut gender = StringBuilder::new();
    let mut region = StringBuilder::new();
    let mut city = StringBuilder::new();
    let mut plan = StringBuilder::new();
    let mut device = StringBuilder::new();
    let mut payment = StringBuilder::new();
    let mut fee = Float64Builder::with_capacity(rows);
    let mut tenure = Int32Builder::with_capacity(rows);
    let mut calls = Int32Builder::with_capacity(rows);
    let mut usage = Float64Builder::with_capacity(rows);
    let mut last_login = Int32Builder::with_capacity(rows);
    let mut discount = BooleanBuilder::with_capacity(rows);
    let mut churned = BooleanBuilder::with_capacity(rows);
    for i in 0..rows {
        id.append_value(first_id + i as i64);
        let day = rng.uniform() * span_days;
        signup.append_value(start_us + (day * 86_400e6) as i64);
        let a = (38.0 + drift.age_shift + 12.0 * rng.normal()).clamp(18.0, 90.0);
        if rng.chance(0.04) {
            age.append_null();
        } else {
            age.append_value(a.round() as i32);
        }
        if rng.chance(0.08) {
            gender.append_null();
        } else {
            gender.append_value(GENDERS[rng.weighted(&[0.49, 0.49, 0.02])]);
        }
        let r = rng.weighted(&drift.region_weights);
        region.append_value(REGIONS[r]);
        // Zipf-like city popularity: a long tail of small cities.
        let c = ((rng.uniform().powf(2.5)) * CITIES as f64) as u64;
        city.append_value(format!("city_{:04}", c.min(CITIES - 1)));
        let p = rng.weighted(&[0.45, 0.35, 0.2]);
        plan.append_value(PLANS[p]);
        let d = rng.weighted(&[0.35, 0.4, 0.25]);
        device.append_value(DEVICES[d]);
        payment.append_value(PAYMENTS[rng.weighted(&[0.5, 0.2, 0.2, 0.1])]);
        let base_fee = [29.0, 49.0, 79.0][p];
        let f = ((base_fee + 8.0 * rng.normal()) * drift.fee_factor).max(5.0);
        fee.append_value((f * 100.0).round() / 100.0);
        let t = (rng.uniform().powf(1.5) * 72.0) as i32 + 1;
        tenure.append_value(t);
        let sc = rng.poisson(1.5 + drift.extra_calls);
        calls.append_value(sc);
        let u = (300.0 + 120.0 * rng.normal() + 40.0 * p as f64).max(0.0);
        if rng.chance(0.05) {
            usage.append_null();
        } else {
            usage.append_value((u * 10.0).round() / 10.0);
        }
        let ll = (rng.uniform().powf(3.0) * 90.0) as i32;
        last_login.append_value(ll);
        let disc = rng.chance(0.3);
        discount.append_value(disc);
        // The churn risk mixes thresholds, interactions and curvature.
        let z = -1.6 + 0.045 * (f - base_fee * drift.fee_factor) + 0.02 * (base_fee - 49.0)
            - 0.035 * t as f64
            + 0.55 * (sc as f64 - 2.0).max(0.0)
            + if ll > 30 { 1.1 } else { 0.0 }
            + if p == 0 && d == 2 { 0.9 } else { 0.0 }
            - if disc { 0.6 } else { 0.0 }
            + 0.0012 * (a - 45.0).powi(2)
            - 0.002 * (u - 300.0).clamp(-200.0, 200.0)
            + [0.2, -0.1, 0.0, 0.1, -0.2][r];
        churned.append_value(rng.chance(sigmoid(z)));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(signup.finish()),
        Arc::new(age.finish()),
        Arc::new(gender.finish()),
        Arc::new(region.finish()),
        Arc::new(city.finish()),
        Arc::new(plan.finish()),
        Arc::new(device.finish()),
        Arc::new(payment.finish()),
        Arc::new(fee.finish()),
        Arc::new(tenure.finish()),
        Arc::new(calls.finish()),
        Arc::new(usage.finish()),
        Arc::new(last_login.finish()),
        Arc::new(discount.finish()),
        Arc::new(churned.finish()),
    ];
    RecordBatch::try_new(customer_schema(), columns).map_err(internal)
}

const NEIGHBORHOODS: u64 = 20;

fn house_prices(rows: usize, seed: u64) -> Result<RecordBatch> {
    let mut rng = Rng::new(seed);
    // Each neighbourhood has its own price level and distance to the center.
    let levels: Vec<f64> = (0..NEIGHBORHOODS)
        .map(|_| 1.0 + 0.35 * rng.normal())
        .collect();
    let distances: Vec<f64> = (0..NEIGHBORHOODS)
        .map(|_| 1.0 + 25.0 * rng.uniform())
        .collect();
    let mut id = Int64Builder::with_capacity(rows);
    let mut hood = StringBuilder::new();
    let mut sqft = Float64Builder::with_capacity(rows);
    let mut bedrooms = Int32Builder::with_capacity(rows);
    let mut bathrooms = Float64Builder::with_capacity(rows);
    let mut year = Int32Builder::with_capacity(rows);
    let mut lot = Float64Builder::with_capacity(rows);
    let mut garage = BooleanBuilder::with_capacity(rows);
    let mut condition = Int32Builder::with_capacity(rows);
    let mut distance = Float64Builder::with_capacity(rows);
    let mut price = Float64Builder::with_capacity(rows);
    for i in 0..rows {
        id.append_value(i as i64 + 1);
        let h = rng.below(NEIGHBORHOODS) as usize;
        hood.append_value(format!("hood_{h:02}"));
        let s = (1700.0 * (0.35 * rng.normal()).exp()).clamp(350.0, 9000.0);
        sqft.append_value(s.round());
        let b = ((s / 550.0) + 0.8 * rng.normal()).round().clamp(1.0, 8.0) as i32;
        bedrooms.append_value(b);
        bathrooms.append_value(((b as f64 * 0.6 + 0.5 * rng.uniform()) * 2.0).round() / 2.0);
        let y = (1900.0 + 123.0 * rng.uniform().powf(0.6)).round() as i32;
        year.append_value(y);
        let l = if rng.chance(0.06) {
            None
        } else {
            Some((s * (2.0 + 3.0 * rng.uniform())).round())
        };
        lot.append_option(l);
        let g = rng.chance(0.7);
        garage.append_value(g);
        let c = (1 + rng.weighted(&[0.05, 0.15, 0.45, 0.25, 0.1])) as i32;
        condition.append_value(c);
        let dist = (distances[h] + 2.0 * rng.normal()).max(0.3);
        distance.append_value((dist * 10.0).round() / 10.0);
        let age_years = (2024 - y) as f64;
        let value = 180.0
            * s.powf(0.92)
            * levels[h].max(0.3)
            * (1.0 + 0.06 * (c as f64 - 3.0))
            * (1.0 - 0.012 * dist).max(0.5)
            * if age_years < 10.0 {
                1.15
            } else if age_years > 80.0 {
                1.05
            } else {
                1.0 - 0.002 * age_years
            }
            + if g { 15_000.0 } else { 0.0 }
            + l.map_or(0.0, |l| 2.5 * l.sqrt() * 100.0);
        price.append_value((value * (0.12 * rng.normal()).exp()).round());
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("house_id", DataType::Int64, false),
        Field::new("neighborhood", DataType::Utf8, false),
        Field::new("sqft", DataType::Float64, false),
        Field::new("bedrooms", DataType::Int32, false),
        Field::new("bathrooms", DataType::Float64, false),
        Field::new("year_built", DataType::Int32, false),
        Field::new("lot_sqft", DataType::Float64, true),
        Field::new("has_garage", DataType::Boolean, false),
        Field::new("condition", DataType::Int32, false),
        Field::new("distance_to_center_km", DataType::Float64, false),
        Field::new("price", DataType::Float64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(hood.finish()),
        Arc::new(sqft.finish()),
        Arc::new(bedrooms.finish()),
        Arc::new(bathrooms.finish()),
        Arc::new(year.finish()),
        Arc::new(lot.finish()),
        Arc::new(garage.finish()),
        Arc::new(condition.finish()),
        Arc::new(distance.finish()),
        Arc::new(price.finish()),
    ];
    RecordBatch::try_new(schema, columns).map_err(internal)
}

const STORES: i32 = 10;
const DAYS: i32 = 1096;
/// 2022-01-01 as days since the Unix epoch.
const FIRST_DAY: i32 = 18_993;

fn daily_sales(seed: u64) -> Result<RecordBatch> {
    let mut rng = Rng::new(seed);
    let rows = (STORES * DAYS) as usize;
    let mut date = Date32Builder::with_capacity(rows);
    let mut store = Int32Builder::with_capacity(rows);
    let mut units = Int32Builder::with_capacity(rows);
    let mut revenue = Float64Builder::with_capacity(rows);
    let mut promo = BooleanBuilder::with_capacity(rows);
    // Multipliers Monday..Sunday: weekend peaks.
    let weekly = [0.85, 0.8, 0.9, 0.95, 1.1, 1.35, 1.2];
    for s in 1..=STORES {
        let size = 60.0 + 15.0 * s as f64 + 10.0 * rng.normal();
        let price = 12.0 + 2.0 * rng.uniform();
        for d in 0..DAYS {
            let day = FIRST_DAY + d;
            // 1970-01-01 was a Thursday (index 3 with Monday = 0).
            let dow = ((day % 7 + 7 + 3) % 7) as usize;
            let yearly =
                1.0 + 0.25 * (2.0 * std::f64::consts::PI * (d as f64 - 330.0) / 365.25).cos();
            let trend = 1.0 + 0.0004 * d as f64;
            let p = rng.chance(0.1);
            let lambda = size * weekly[dow] * yearly * trend * if p { 1.4 } else { 1.0 };
            let u = (lambda + lambda.sqrt() * rng.normal()).round().max(0.0) as i32;
            date.append_value(day);
            store.append_value(s);
            units.append_value(u);
            let unit_price = if p { price * 0.85 } else { price };
            revenue.append_value((u as f64 * unit_price * 100.0).round() / 100.0);
            promo.append_value(p);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, false),
        Field::new("store_id", DataType::Int32, false),
        Field::new("units", DataType::Int32, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("promo", DataType::Boolean, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(store.finish()),
        Arc::new(units.finish()),
        Arc::new(revenue.finish()),
        Arc::new(promo.finish()),
    ];
    RecordBatch::try_new(schema, columns).map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> SqlStateError {
    SqlStateError::internal(format!("demo data: {e}"))
}

/// 2021-01-01T00:00:00Z in microseconds.
const CUSTOMERS_START_US: i64 = 1_609_459_200_000_000;
/// 2024-01-01T00:00:00Z in microseconds.
const RECENT_START_US: i64 = 1_704_067_200_000_000;

/// Every demo table, by name.
pub fn tables() -> Result<Vec<(&'static str, RecordBatch)>> {
    Ok(vec![
        (
            "customers",
            customers(50_000, 42, 1, CUSTOMERS_START_US, 3.0 * 365.0, NO_DRIFT)?,
        ),
        (
            "customers_recent",
            customers(10_000, 4242, 100_001, RECENT_START_US, 180.0, RECENT_DRIFT)?,
        ),
        ("house_prices", house_prices(20_000, 7)?),
        ("daily_sales", daily_sales(11)?),
    ])
}

/// Writes the demo tables into the catalog.
pub async fn load(catalog: &Catalog) -> Result<()> {
    for (name, batch) in tables()? {
        let rows = batch.num_rows();
        let schema = batch.schema();
        let stream =
            RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(vec![Ok(batch)]));
        catalog
            .create_table(
                &RelName::new(DEFAULT_SCHEMA, name),
                crate::catalog::Columns::plain(schema),
                Some(Box::pin(stream)),
                true,
                false,
                None,
                &crate::catalog::staging::Block::default(),
            )
            .await?;
        info!(table = name, rows, "demo table loaded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    /// The demo tables are what the slt files and the reference fixtures
    /// were computed on: a change to the generator (or to a function it
    /// uses) that moves one value must show up here, not as a puzzle in a
    /// hundred expected outputs.
    #[test]
    fn demo_tables_are_the_ones_the_fixtures_were_made_from() {
        let digests: Vec<(&str, String)> = tables()
            .expect("tables")
            .into_iter()
            .map(|(name, batch)| {
                let digest = quarry_udfs::model::train::data_sha256(&batch.schema(), &[batch])
                    .expect("digest");
                (name, digest)
            })
            .collect();
        let expected = [
            (
                "customers",
                "d13cdd10fa2128789077b67bbf1da01e709a00c46a1c4910b9915d95fc77bcc2",
            ),
            (
                "customers_recent",
                "c51d772ddcb7b88c70bbfccaef7d28c55f5f491d44d056ffb93efcebe7bceddb",
            ),
            (
                "house_prices",
                "2b4f88ef0cd0aef781d8fa8a7c7282f5b0e7fde96e3773f8e862476eed34c423",
            ),
            (
                "daily_sales",
                "41a3abcd8f80a6474278888eabd1fc65a748ff4d705800d3688a20f3ce3b779a",
            ),
        ];
        let expected: Vec<(&str, String)> =
            expected.iter().map(|(t, d)| (*t, d.to_string())).collect();
        assert_eq!(digests, expected);
    }

    #[test]
    fn generation_is_deterministic() {
        let a = customers(100, 1, 1, 0, 10.0, NO_DRIFT).expect("a");
        let b = customers(100, 1, 1, 0, 10.0, NO_DRIFT).expect("b");
        assert_eq!(a, b);
    }

    #[test]
    fn churn_rate_is_realistic() {
        let batch = customers(20_000, 42, 1, 0, 100.0, NO_DRIFT).expect("batch");
        let churned = batch.column(15).as_boolean();
        let rate = churned.true_count() as f64 / churned.len() as f64;
        assert!((0.1..0.4).contains(&rate), "churn rate {rate}");
        assert!(batch.column(2).null_count() > 0, "age has nulls");
    }

    #[test]
    fn recent_customers_pay_more() {
        let mean = |b: &RecordBatch| {
            let a = b.column(9).as_primitive::<Float64Type>();
            a.values().iter().sum::<f64>() / a.len() as f64
        };
        let old = customers(5_000, 1, 1, 0, 10.0, NO_DRIFT).expect("old");
        let new = customers(5_000, 2, 1, 0, 10.0, RECENT_DRIFT).expect("new");
        assert!(mean(&new) > mean(&old) * 1.1);
    }

    #[test]
    fn uniform_stays_in_unit_interval() {
        let mut rng = Rng::new(0);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
