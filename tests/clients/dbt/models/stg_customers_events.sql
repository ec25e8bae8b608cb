{{ config(materialized='view', event_time='updated_at') }}
select id, amount, updated_at from {{ source('raw', 'customers') }}
