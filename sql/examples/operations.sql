-- Operations walkthrough: the churn model goes live. Log what it says and
-- to whom, take the ground truth back, and watch it from SQL, over REST
-- and from Prometheus.
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/operations.sql
--
-- The integration tests run this file statement by statement and check
-- what it claims.

-- 1. Train and deploy, logging every prediction keyed by customer.
CREATE MODEL churn_live OPTIONS (
    algorithm = 'gbdt', label = 'churned', rounds = 40,
    features = 'age,plan,monthly_fee,tenure_months,support_calls,region'
) AS SELECT * FROM customers;

SELECT ml_deploy('churn_live', 1);

SELECT ml_set_policy('churn_live', '{"log_sample_rate": 1.0, "key": "customer_id", "log_retention_days": 90}');

-- 2. Score last month's customers (the table form passes the key along).
SELECT customer_id, prediction, round(probability, 3) AS p
FROM ml_predict('churn_live', customers_recent)
ORDER BY p DESC, customer_id
LIMIT 5;

-- The same model over REST, logged the same way (run in a shell):
--   curl -s -X POST http://127.0.0.1:8433/v1/models/churn_live/predict \
--     -d '{"rows": [{"customer_id": 100001, "age": 42, "plan": "basic", "monthly_fee": 29.5,
--                    "tenure_months": 3, "support_calls": 4, "region": "north"}]}'
-- With --password set, add -u quarry:PASSWORD.

-- 3. The log: one row per scored customer, written in the background (a
--    scan of the log first waits for the rows queued before it).

SELECT model, version, alias, count(*) AS rows, count(DISTINCT key) AS customers,
       round(avg(probability), 3) AS mean_probability
FROM ml_prediction_log
WHERE model = 'churn_live'
GROUP BY model, version, alias;

-- 4. The ground truth comes back: what the customers did.
INSERT INTO ml_feedback (model, key, actual)
SELECT 'churn_live', CAST(customer_id AS TEXT), CAST(churned AS TEXT)
FROM customers_recent
WHERE customer_id % 10 = 0;

SELECT ml_feedback('churn_live', '100003', 'true', true, 'retention offer made by phone');

-- 5. Live quality per day: the labelled rows' AUC, accuracy and F1 with
--    bootstrap intervals, the override rate, the mean prediction, and drift
--    of the predictions and of the logged inputs against the training data.
SELECT period, version, predictions, labelled, metric, round(value, 3) AS value,
       round(ci_lower, 3) AS ci_lower, round(ci_upper, 3) AS ci_upper,
       round(override_rate, 4) AS override_rate, round(mean_prediction, 3) AS mean_prediction,
       round(prediction_psi, 3) AS prediction_psi, drifted_features
FROM ml_monitor('churn_live', window => '7 days', grain => 'day');

-- The same numbers by hand: each feedback row joined to the latest
-- prediction for its customer made before it, and the metric aggregates.
WITH labelled AS (
    SELECT f.actual = 'true' AS actual, l.probability
    FROM ml_feedback f
    JOIN ml_prediction_log l ON l.model = f.model AND l.key = f.key AND l.at <= f.at
    WHERE f.model = 'churn_live'
)
SELECT count(*) AS labelled, round(ml_roc_auc(actual, probability), 3) AS live_auc
FROM labelled;

-- Which inputs moved: ml_drift on the scored customers names them.
SELECT feature, round(value, 3) AS psi
FROM ml_drift('churn_live', customers_recent)
WHERE metric = 'psi' AND drifted
ORDER BY feature;

-- 6. Live volume and latency per minute.
SELECT model, version, alias, minute, predictions, calls, errors,
       round(p50_latency_us) AS p50_us, round(p99_latency_us) AS p99_us
FROM ml_model_metrics
WHERE model = 'churn_live'
ORDER BY minute;

-- Prometheus scrapes the same numbers (run in a shell):
--   curl -s http://127.0.0.1:8433/metrics | grep churn_live
