{{ config(materialized='view') }}
select id, name, plan, amount, updated_at from {{ source('raw', 'customers') }}
