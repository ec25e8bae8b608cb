{{ config(materialized='incremental', incremental_strategy='microbatch', unique_key='id',
          event_time='updated_at', begin='2024-01-01', batch_size='month', lookback=1) }}
select id, amount, updated_at from {{ ref('stg_customers_events') }}
