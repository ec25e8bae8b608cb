{{ config(
    materialized='quarry_model',
    task='classification',
    algorithm='gbdt',
    label='churned',
    options={'exclude': 'customer_id', 'rounds': 60, 'max_depth': 5, 'seed': 42},
    deploy='after_tests'
) }}
select customer_id, age, region, plan, device, payment_method, monthly_fee,
       tenure_months, support_calls, usage_minutes, last_login_days, has_discount,
       fee_per_month_of_tenure, churned
from {{ ref('churn_features') }}
where split = 'train'
