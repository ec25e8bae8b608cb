{{ config(materialized='incremental', unique_key='id', incremental_strategy='delete+insert') }}
select id, name, amount from {{ ref('stg_customers') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) - interval '2 days' from {{ ref('stg_customers') }})
{% endif %}
