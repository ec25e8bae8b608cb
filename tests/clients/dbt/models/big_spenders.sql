{{ config(materialized='ephemeral') }}
select id from {{ ref('stg_customers') }} where amount > 15
