{{ config(materialized='table', contract={'enforced': true}) }}
select cast(id as integer) as id, name, cast(amount as double precision) as amount
from {{ ref('stg_customers') }}
