select customer_id, age, region, plan, device, payment_method, monthly_fee,
       tenure_months, support_calls, usage_minutes, last_login_days, has_discount,
       churned
from {{ source('demo', 'customers_recent') }}
