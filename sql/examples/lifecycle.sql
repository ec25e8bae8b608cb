-- Lifecycle walkthrough: a heuristic in production and a GBDT challenger
-- on a fifth of the customers, an A/B report on their feedback, the
-- promotion, new data that drifts, an alert, a policy that retrains and
-- deploys on its own, and a bad deploy rolled back automatically.
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/lifecycle.sql
--
-- The integration tests run this file statement by statement and check
-- what it claims. The scheduler runs policies every --scheduler-interval
-- (5 minutes by default); here ml_run_policy runs them at once.

-- 1. History to train on, one batch per load. The model learns from the
--    latest batch.
CREATE TABLE churn_history AS SELECT 1 AS batch, * FROM customers;

-- Version 1, a heuristic: production.
CREATE MODEL churn_flow OPTIONS (
    algorithm = 'sql_rule', task = 'classification', label = 'churned',
    expression = 'least(1.0, support_calls / 6.0)'
) AS SELECT * FROM churn_history WHERE batch = (SELECT max(batch) FROM churn_history);

SELECT ml_deploy('churn_flow', 1);

-- Version 2, a GBDT: the challenger, on 20% of the customers, chosen by
-- a hash of customer_id (the same customer always meets the same one).
CREATE MODEL churn_flow OPTIONS (
    algorithm = 'gbdt', label = 'churned', rounds = 40,
    features = 'age,plan,monthly_fee,tenure_months,support_calls,region'
) AS SELECT * FROM churn_history WHERE batch = (SELECT max(batch) FROM churn_history);

SELECT ml_set_policy('churn_flow', '{"key": "customer_id", "log_sample_rate": 1.0}');

SELECT ml_deploy('churn_flow', 2, 'challenger', 0.2);

-- 2. A month of traffic: every prediction is logged with its arm.
SELECT arm, count(prediction) AS customers, round(avg(probability), 3) AS mean_probability
FROM ml_predict('churn_flow', (SELECT * FROM customers WHERE customer_id % 4 = 0))
GROUP BY arm ORDER BY arm;

-- The outcomes come back.
INSERT INTO ml_feedback (model, key, actual)
SELECT 'churn_flow', CAST(customer_id AS TEXT), churned FROM customers WHERE customer_id % 4 = 0;

-- 3. Which arm wins: the GBDT, by enough to be sure.
SELECT arm, version, scored, labelled, round(value, 3) AS roc_auc, round(lift, 3) AS lift,
       p_value < 0.001 AS significant, verdict
FROM ml_ab_report('churn_flow') ORDER BY arm;

-- 4. Promote it: production for everyone, the split ended.
SELECT ml_deploy('churn_flow', 2);

SELECT ml_deploy('churn_flow', 2, 'challenger', 0);

-- 5. Let the server look after it: alert on drift, retrain when the
--    logged inputs drift, deploy the candidate only if it beats production
--    on rows neither learned from, roll back a deploy that does worse.
SELECT ml_set_policy('churn_flow', '{
    "retrain_on_drift": 0.2,
    "auto_deploy": "if_better",
    "compare_on": "churn_holdout",
    "rollback_on_metric": {"metric": "roc_auc", "margin": 0.05},
    "min_labelled": 200,
    "alert_to": ["table", "log"],
    "alert_spc": false
}');

-- 6. New customers arrive, and they are not like the old ones: fees went
--    up, and who churns changed (older customers now leave).
CREATE TABLE churn_new AS
SELECT 2 AS batch, customer_id + 1000000 AS customer_id, signup_ts, age, gender, region, city, plan,
       device, payment_method, monthly_fee * 1.6 AS monthly_fee, tenure_months, support_calls,
       usage_minutes, last_login_days, has_discount,
       coalesce(age, 0) >= 50 OR (support_calls >= 6 AND tenure_months < 6) AS churned
FROM customers_recent;

INSERT INTO churn_history SELECT * FROM churn_new WHERE customer_id % 2 = 0;

CREATE TABLE churn_holdout AS SELECT * FROM churn_new WHERE customer_id % 2 = 1;

-- Production scores them (and logs them).
SELECT count(prediction) AS scored FROM ml_predict('churn_flow', (SELECT * FROM churn_new WHERE customer_id % 4 = 1));

-- 7. The policy's job: the drift is an alert, the drift rule retrains on
--    the latest batch, and the candidate beats production on the holdout,
--    so it is deployed.
SELECT trigger, candidate_version, decision FROM ml_run_policy('churn_flow');

SELECT kind, severity, status FROM ml_alerts WHERE model = 'churn_flow' ORDER BY kind;

SELECT version, status FROM ml_model_versions WHERE model = 'churn_flow' ORDER BY version;

-- 8. Version 3 serves, and its outcomes come back.
SELECT count(prediction) AS scored FROM ml_predict('churn_flow', (SELECT * FROM churn_new WHERE customer_id % 4 = 3));

INSERT INTO ml_feedback (model, key, actual)
SELECT 'churn_flow', CAST(customer_id AS TEXT), churned FROM churn_new WHERE customer_id % 4 = 3;

-- 9. Someone deploys the old heuristic by hand. It does worse on the
--    new customers...
SELECT ml_deploy('churn_flow', 1);

SELECT count(prediction) AS scored FROM ml_predict('churn_flow', (SELECT * FROM churn_new WHERE customer_id % 4 = 1));

INSERT INTO ml_feedback (model, key, actual)
SELECT 'churn_flow', CAST(customer_id AS TEXT), churned FROM churn_new WHERE customer_id % 4 = 1;

-- ...and the next job rolls it back.
SELECT trigger, decision FROM ml_run_policy('churn_flow');

SELECT version, status FROM ml_model_versions WHERE model = 'churn_flow' ORDER BY version;

-- 10. What the automation did, and each version's life.
SELECT id, run_by, trigger, candidate_version, decision FROM ml_jobs WHERE model = 'churn_flow' ORDER BY id;

SELECT version, status, trigger, deployed_at IS NOT NULL AS deployed, metric,
       round(metric_at_deploy, 3) AS at_deploy, round(metric_now, 3) AS now
FROM ml_lifecycle('churn_flow') ORDER BY version;
