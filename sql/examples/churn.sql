-- Churn walkthrough: train a model on the demo customers, inspect it, score
-- recent customers, deploy it, try a challenger, and roll back.
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/churn.sql
--
-- The integration tests run this file statement by statement.

-- 1. Look at the data: 50,000 customers, about 15% of whom churned.
SELECT count(*) AS customers, round(avg(CAST(churned AS INT)), 3) AS churn_rate FROM customers;

-- 2. Train a logistic regression. Preprocessing (imputation, scaling, one-hot
--    encoding of the categories, with rare cities folded into `other`) is fit
--    on the training split and stored inside the model. 20% of the rows,
--    stratified by the label, are held out for the metrics.
CREATE MODEL churn OPTIONS (
    algorithm = 'logistic',
    label = 'churned',
    exclude = 'customer_id',
    split = 'stratified:0.2'
) AS SELECT * FROM customers;

-- 3. Inspect it: features and their preprocessing, classes, hold-out metrics.
DESCRIBE MODEL churn;
SELECT model, version, metrics FROM ml_model_versions WHERE model = 'churn';

-- 4. Score recent customers. Features are matched by column name; the table
--    form appends `prediction` and `probability` to every input column.
SELECT customer_id, plan, round(probability, 3) AS churn_probability
FROM ml_predict('churn', customers_recent)
ORDER BY churn_probability DESC
LIMIT 10;

--    The scalar form scores inside any query, here per region.
SELECT region,
       count(*) AS customers,
       round(avg(ml_predict_proba('churn', signup_ts, age, gender, region, city, plan, device,
                                  payment_method, monthly_fee, tenure_months, support_calls,
                                  usage_minutes, last_login_days, has_discount)), 3) AS expected_churn
FROM customers_recent
GROUP BY region
ORDER BY expected_churn DESC;

-- 5. Deploy version 1: the bare name 'churn' now means churn@1 everywhere.
SELECT ml_deploy('churn', 1);

-- 6. A challenger: a stronger L2 penalty, and city hashed instead of one-hot.
CREATE MODEL churn OPTIONS (
    algorithm = 'logistic',
    label = 'churned',
    exclude = 'customer_id',
    split = 'stratified:0.2',
    l2 = 10,
    encode = 'city:hash:32'
) AS SELECT * FROM customers;

--    Production is still version 1 until the challenger is deployed.
SELECT version, status, aliases, metrics FROM ml_model_versions WHERE model = 'churn' ORDER BY version;

--    Compare both versions on the same recent customers.
SELECT count(*) AS customers,
       sum(CASE WHEN v1.prediction <> v2.prediction THEN 1 ELSE 0 END) AS disagreements
FROM ml_predict('churn@1', customers_recent) v1
JOIN ml_predict('churn@2', customers_recent) v2 USING (customer_id);

-- 7. Deploy the challenger, then roll back to version 1.
SELECT ml_deploy('churn', 2);
SELECT ml_rollback('churn');
SELECT name, versions, production_version FROM ml_models WHERE name = 'churn';

-- 8. A business rule as a versioned model, scored like any other.
CREATE MODEL churn_rule OPTIONS (
    algorithm = 'sql_rule',
    label = 'churned',
    expression = 'CASE WHEN support_calls >= 4 OR last_login_days > 60 THEN 0.8 ELSE 0.1 END'
) AS SELECT * FROM customers;

SELECT count(*) FILTER (WHERE prediction) AS flagged_by_rule FROM ml_predict('churn_rule', customers_recent);

-- 9. Gradient-boosted trees find the non-linear effects a logistic model
--    misses. The monotone constraint makes predicted churn never decrease as
--    support calls rise, whatever the noise in the data says.
CREATE MODEL churn_gbdt OPTIONS (
    algorithm = 'gbdt',
    label = 'churned',
    exclude = 'customer_id',
    monotone = 'support_calls:1'
) AS SELECT * FROM customers;

-- 10. A random forest (100 bagged trees, sqrt(features) tried per split).
CREATE MODEL churn_forest OPTIONS (
    algorithm = 'random_forest',
    label = 'churned',
    exclude = 'customer_id',
    trees = 100,
    min_rows_per_leaf = 5
) AS SELECT * FROM customers;

--     Compare the three on their hold-out metrics.
SELECT model, version, algorithm, metrics FROM ml_model_versions
WHERE model IN ('churn', 'churn_gbdt', 'churn_forest') ORDER BY model, version;
