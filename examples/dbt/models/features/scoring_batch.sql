-- The customers to score: the held-out ones, or last month's.
{% if var('scoring_batch') == 'recent' %}
select *, monthly_fee / greatest(tenure_months, 1) as fee_per_month_of_tenure
from {{ ref('stg_customers_recent') }}
{% else %}
select customer_id, age, region, plan, device, payment_method, monthly_fee,
       tenure_months, support_calls, usage_minutes, last_login_days, has_discount,
       churned, fee_per_month_of_tenure
from {{ ref('churn_features') }}
where split = 'test'
{% endif %}
