-- One row per customer, with a stable train/test assignment.
select *,
       monthly_fee / greatest(tenure_months, 1) as fee_per_month_of_tenure,
       ml_split(customer_id, 0.2, 7) as split
from {{ ref('stg_customers') }}
