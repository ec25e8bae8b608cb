-- Evaluation walkthrough: is a learned model better than the rule the team
-- uses today, is it fair across regions, and why does it flag who it flags?
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/evaluation.sql
--
-- The integration tests run this file statement by statement.

-- 1. Today's heuristic, versioned as a model: many support calls and a short
--    tenure mean risk. Its value is the positive-class score.
CREATE MODEL calls_rule OPTIONS (
    algorithm = 'sql_rule',
    task = 'classification',
    label = 'churned',
    expression = 'least(1.0, support_calls / 8.0 + CASE WHEN tenure_months < 6 THEN 0.3 ELSE 0.0 END)'
) AS SELECT * FROM customers;

-- 2. A gradient-boosted model on every column but the id and signup time.
CREATE MODEL churn_gbdt OPTIONS (
    algorithm = 'gbdt',
    label = 'churned',
    exclude = 'customer_id,signup_ts',
    split = 'stratified:0.2',
    rounds = 150,
    learning_rate = 0.05
) AS SELECT * FROM customers;

-- 3. Metrics with 95% bootstrap intervals, on customers neither model saw.
SELECT metric, round(value, 4) AS value, round(ci_lower, 4) AS ci_lower, round(ci_upper, 4) AS ci_upper
FROM ml_evaluate('churn_gbdt', customers_recent, bootstrap => 500);

-- 4. Heuristic against model, paired on the same rows: the difference, its
--    interval and a p-value (DeLong's test for AUC).
SELECT metric, round(a, 4) AS rule, round(b, 4) AS gbdt, round(diff, 4) AS diff, ci, p_value
FROM ml_compare('calls_rule', 'churn_gbdt', customers_recent, bootstrap => 500);

-- 5. Where does the model's ranking pay off? Lift by decile.
SELECT bin, rows, round(positive_rate, 3) AS churn_rate, round(lift, 2) AS lift,
       round(cumulative_gain, 3) AS share_of_churners_found
FROM ml_lift_curve('churn_gbdt', customers_recent);

-- 6. Fairness by region: who gets flagged, and is any region flagged less
--    than 4/5 as often as the most-flagged one?
SELECT region, n, round(positive_rate, 3) AS flagged, round(tpr, 3) AS tpr, round(fpr, 3) AS fpr,
       round(positive_rate_ratio, 2) AS parity, four_fifths_violation
FROM ml_fairness('churn_gbdt', customers_recent, 'region')
ORDER BY region;

-- 7. Is the model biased for some plan? Mean residual per plan, flagged when
--    more than two standard errors from zero.
SELECT plan, n, round(mean_residual, 4) AS bias, round(rmse, 4) AS rmse, flag
FROM ml_residuals('churn_gbdt', customers_recent, 'plan')
ORDER BY plan;

-- 8. Why are the riskiest customers risky? Exact TreeSHAP contributions in
--    log-odds, the three largest per customer.
SELECT customer_id, round(ml_predict_proba('churn_gbdt', age, gender, region, city, plan, device,
           payment_method, monthly_fee, tenure_months, support_calls, usage_minutes,
           last_login_days, has_discount), 3) AS risk,
       round(base_value, 3) AS base_log_odds, explanation
FROM ml_explain('churn_gbdt', (SELECT * FROM customers_recent ORDER BY customer_id LIMIT 2000), 3)
ORDER BY risk DESC
LIMIT 5;

-- 9. What drives the model overall: mean |SHAP| and split gain per feature.
SELECT feature, rank, round(mean_abs_shap, 4) AS mean_abs_shap, round(gain, 4) AS gain
FROM ml_feature_importance('churn_gbdt');

-- 10. The same metrics as plain aggregates, per month of signup: the model
--     keeps its ranking quality over time.
SELECT date_trunc('month', signup_ts) AS month, count(*) AS customers,
       round(ml_roc_auc(churned, ml_predict_proba('churn_gbdt', age, gender, region, city, plan, device,
           payment_method, monthly_fee, tenure_months, support_calls, usage_minutes,
           last_login_days, has_discount)), 3) AS auc
FROM customers_recent
GROUP BY 1
ORDER BY 1;
