{{ config(materialized='incremental') }}
select id, name, updated_at from {{ ref('stg_customers') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
