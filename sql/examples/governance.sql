-- Governance walkthrough: who may do what with customer data and a churn
-- model, and the record that proves it. An analyst scores but neither
-- trains nor reads raw personal data; a data scientist trains on a
-- pseudonymized view checked for k-anonymity first; risk and compliance
-- sign the model off before production; the model card and the DPIA are
-- built from what was recorded; a customer's access and erasure requests
-- are answered; and the audit log's hash chain is verified.
--
--   cargo run --release          # serves the demo data on 127.0.0.1:5433
--   psql -h 127.0.0.1 -p 5433 -U quarry -f sql/examples/governance.sql
--
-- Each section starts with the user who runs it (`SET ROLE`; a superuser
-- may take any role, so psql can run the file as quarry). The integration
-- tests log in as each of those users with their own password instead, run
-- the file statement by statement, and check every claim below. A
-- statement after `-- refused: <SQLSTATE>` is one that must fail.

-- 1. quarry (superuser): people, roles and what each role may touch.
SET ROLE quarry;
CREATE ROLE analyst;
CREATE ROLE data_scientist;
CREATE ROLE risk;
CREATE ROLE compliance;
CREATE USER ana PASSWORD 'ana-walkthrough' IN ROLE analyst;
CREATE USER dan PASSWORD 'dan-walkthrough' IN ROLE data_scientist;
CREATE USER rita PASSWORD 'rita-walkthrough' IN ROLE risk;
CREATE USER carl PASSWORD 'carl-walkthrough' IN ROLE compliance;
CREATE USER dora PASSWORD 'dora-walkthrough' IN ROLE auditor;

-- Contact details: personal data by any measure. The scan proposes tags
-- from the values; the owner records them.
CREATE TABLE customer_contacts AS
SELECT customer_id, 'customer' || customer_id || '@example.org' AS email, region
FROM customers;
SELECT column_name, detected, round(share, 2) AS share, proposed_tag FROM ml_pii_scan(customer_contacts) ORDER BY column_name;
SELECT ml_tag('customer_contacts.email', 'pii');
SELECT ml_tag('customers.customer_id', 'pii');
SELECT ml_tag('customers.age', 'quasi_identifier');
SELECT ml_tag('customers.region', 'quasi_identifier');

-- The data scientist's view: a keyed pseudonym instead of the id (HMAC
-- with a secret nobody can read back), age in ten-year bands, no contact
-- details. Views run with their owner's rights, so dan reads the view
-- without reading customers.
CREATE SECRET customer_key;
CREATE VIEW customers_pseudo AS
SELECT ml_pseudonymize(customer_id, 'customer_key') AS pid,
       ml_generalize(age, 10) AS age_band, region, plan, device, payment_method,
       monthly_fee, tenure_months, support_calls, last_login_days, has_discount, churned
FROM customers;
GRANT CREATE ON SCHEMA public TO data_scientist;

-- k-anonymity of the quasi-identifiers before anyone trains. Ten-year
-- bands are not enough: the few customers over 80 are alone or nearly so
-- in their region (k = 1, a dozen rows at risk).
SELECT k, groups, groups_below_k, rows_at_risk
FROM ml_k_anonymity(customers_pseudo, 'age_band,region', 5);

-- Top-coding the age at 79 (one band for 70 and over) puts every
-- combination of band and region among at least 5 customers.
CREATE OR REPLACE VIEW customers_pseudo AS
SELECT ml_pseudonymize(customer_id, 'customer_key') AS pid,
       ml_generalize(least(age, 79), 10) AS age_band, region, plan, device, payment_method,
       monthly_fee, tenure_months, support_calls, last_login_days, has_discount, churned
FROM customers;
SELECT k, groups, groups_below_k, rows_at_risk
FROM ml_k_anonymity(customers_pseudo, 'age_band,region', 5);
GRANT SELECT ON customers_pseudo TO data_scientist, analyst;

-- 2. dan (data_scientist): trains on the view, documents the model.
SET ROLE dan;
-- refused: 42501
SELECT count(*) FROM customers;
CREATE MODEL churn_governed OPTIONS (
    algorithm = 'logistic', label = 'churned', exclude = 'pid', reweigh = 'region'
) AS SELECT * FROM customers_pseudo;
SELECT ml_annotate('churn_governed', 'purpose', 'Rank customers for retention offers; staff decide who is called.');
SELECT ml_annotate('churn_governed', 'legal_basis', 'Legitimate interest (GDPR art. 6(1)(f)), assessed in DPIA-2026-07.');
SELECT ml_annotate('churn_governed', 'rationale', 'Logistic regression: coefficients an account manager can read.');
SELECT ml_annotate('churn_governed', 'limitations', 'Trained on one year of customers; not for pricing decisions.');
SELECT ml_annotate('churn_governed', 'owner', 'dan (data science)');
GRANT PREDICT ON MODEL churn_governed TO analyst;
GRANT APPROVE ON MODEL churn_governed TO risk, compliance;
SELECT ml_set_policy('churn_governed', '{"approvals_required": ["risk", "compliance"]}');
-- Production needs both sign-offs first.
-- refused: 42501
SELECT ml_deploy('churn_governed', 1);

-- 3. rita (risk) and carl (compliance) sign it off.
SET ROLE rita;
SELECT ml_approve('churn_governed', 1, 'risk', 'Lift holds on the hold-out; thresholds reviewed.');
SET ROLE carl;
SELECT ml_approve('churn_governed', 1, 'compliance', 'Pseudonymized inputs; purpose and legal basis recorded.');

-- 4. dan deploys; the card and the DPIA come from what was recorded.
SET ROLE dan;
SELECT ml_deploy('churn_governed', 1);
SELECT ml_model_card('churn_governed');
SELECT item, status, detail FROM ml_dpia('churn_governed') ORDER BY item;

-- 5. ana (analyst): scores, but neither trains nor reads personal data.
SET ROLE ana;
SELECT plan, count(*) AS customers, round(avg(ml_predict_proba('churn_governed', age_band, plan, device,
       payment_method, monthly_fee, tenure_months, support_calls, last_login_days, has_discount)), 3) AS churn_risk
FROM customers_pseudo GROUP BY plan ORDER BY plan;
-- refused: 42501
SELECT email FROM customer_contacts LIMIT 1;
-- refused: 42501
CREATE MODEL my_churn OPTIONS (algorithm = 'logistic', label = 'churned', exclude = 'pid') AS SELECT * FROM customers_pseudo;
-- refused: 42501
SELECT * FROM ml_trace_subject('customers.customer_id', 42);

-- 6. dora (auditor, the data protection officer): customer 42 asks what
--    is held about them, then to be erased.
SET ROLE quarry;
GRANT SELECT, DELETE ON customers, customer_contacts, customers_recent TO dora;
SET ROLE dora;
SELECT kind, object, column_name, rows FROM ml_trace_subject('customers.customer_id', 42) ORDER BY kind, object;
SELECT kind, object, rows, action FROM ml_erase_subject('customers.customer_id', 42) ORDER BY kind, object;
SELECT kind, object, rows FROM ml_trace_subject('customers.customer_id', 42) WHERE rows > 0 ORDER BY kind, object;

-- 7. dora: the record. Every statement above is in the audit log under
--    the user who ran it, and the hash chain is whole.
SELECT coalesce(role_name, user_name) AS who, count(*) AS statements FROM ml_audit_log
WHERE kind = 'sql' GROUP BY 1 ORDER BY 1;
SELECT * FROM ml_audit_verify();
