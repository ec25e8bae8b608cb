{{ config(
    materialized='table',
    pre_hook="select 1",
    post_hook="comment on column {{ this }}.fee is 'from the plans seed'"
) }}
select c.id, c.name, c.plan, p.monthly_fee as fee, c.amount * 2 as doubled
from {{ ref('stg_customers') }} c
join {{ ref('plans') }} p on p.plan = c.plan
