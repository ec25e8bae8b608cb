{{ config(materialized='materialized_view') }}
select plan, count(*) as customers, sum(amount) as amount
from {{ ref('stg_customers') }}
group by plan
