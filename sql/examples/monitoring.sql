-- Monitoring walkthrough: a new batch of customers arrives. Is it clean, has
-- it drifted away from what the deployed model learned from, and is the churn
-- rate still in control week by week?
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/monitoring.sql
--
-- The integration tests run this file statement by statement.

-- 1. The model in production, trained on last year's customers, and a
--    snapshot of exactly the features it learned from (CREATE MODEL keeps
--    one too, as training:churn_monitored).
CREATE MODEL churn_monitored OPTIONS (
    algorithm = 'logistic',
    label = 'churned',
    exclude = 'customer_id,signup_ts,city'
) AS SELECT * FROM customers;

SELECT ml_deploy('churn_monitored', 1);

SELECT name, version, rows, sha256 FROM ml_snapshot('customer_features', customers);

-- 2. Profile the new batch: nulls, ranges, the most frequent values.
SELECT name, type, nulls, round(null_fraction, 3) AS null_fraction, distinct, min, max,
       round(mean, 2) AS mean, round(p50, 2) AS median, top_values
FROM ml_profile(customers_recent);

-- 3. Validate it against the rules the data team agreed on.
SELECT rule, total_rows, failing_rows, passed, sample
FROM ml_validate(customers_recent,
    'age BETWEEN 18 AND 90',
    'monthly_fee > 0',
    'support_calls BETWEEN 0 AND 20',
    'region IN (''north'', ''south'', ''east'', ''west'', ''central'')',
    'unique(customer_id)');

-- 4. Fees far from the rest (Tukey's fences), to eyeball before scoring.
SELECT customer_id, plan, monthly_fee, round(score, 2) AS iqrs_out
FROM ml_outliers(customers_recent, 'monthly_fee', 'iqr')
WHERE is_outlier ORDER BY score DESC LIMIT 5;

-- 5. Drift against the deployed model's training profile: every feature and
--    the predictions, no training data needed.
SELECT feature, metric, round(value, 4) AS value, p_value, threshold, drifted
FROM ml_drift('churn_monitored', customers_recent)
ORDER BY drifted DESC, feature, metric;

-- 6. The same statistics as aggregates, per plan: fees moved on every plan.
SELECT plan,
       round(ml_psi(monthly_fee, batch = 'recent'), 3) AS psi,
       round(ml_ks_stat(monthly_fee, batch = 'recent'), 3) AS ks,
       ml_ks_pvalue(monthly_fee, batch = 'recent') < 0.01 AS shifted,
       round(ml_wasserstein(monthly_fee, batch = 'recent'), 2) AS fee_moved_by
FROM (SELECT plan, monthly_fee, 'train' AS batch FROM customers
      UNION ALL SELECT plan, monthly_fee, 'recent' FROM customers_recent) t
GROUP BY plan ORDER BY plan;

-- 7. The weekly churn rate on a control chart: limits from the first 20
--    weeks, the Western Electric rules checked on every week; the weeks that
--    break one.
SELECT week, round(weekly_rate, 4) AS weekly_rate, round(center, 4) AS center,
       round(lcl, 4) AS lcl, round(ucl, 4) AS ucl, rule
FROM ml_control_chart(
    (SELECT date_trunc('week', signup_ts) AS week, avg(CAST(churned AS DOUBLE)) AS weekly_rate
     FROM customers GROUP BY 1),
    'week', 'weekly_rate', baseline => 20)
WHERE out_of_control
ORDER BY week;

-- 8. Is the weekly rate stationary (no trend, no unit root)?
SELECT test, round(statistic, 3) AS statistic, round(p_value, 4) AS p_value, stationary, verdict
FROM ml_stationarity(
    (SELECT date_trunc('week', signup_ts) AS week, avg(CAST(churned AS DOUBLE)) AS weekly_rate
     FROM customers GROUP BY 1),
    'weekly_rate', 'week');

-- 9. Score the batch with the model it was checked against.
SELECT count(*) AS customers, round(avg(ml_predict_proba('churn_monitored', age, gender, region, plan,
       device, payment_method, monthly_fee, tenure_months, support_calls, usage_minutes,
       last_login_days, has_discount)), 4) AS mean_churn_risk
FROM customers_recent;
