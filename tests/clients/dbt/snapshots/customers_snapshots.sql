{% snapshot customers_by_time %}
{{ config(target_schema='dbt_test_snapshots', unique_key='id',
          strategy='timestamp', updated_at='updated_at') }}
select id, name, plan, amount, updated_at from {{ source('raw', 'customers') }}
{% endsnapshot %}

{% snapshot customers_by_check %}
{{ config(target_schema='dbt_test_snapshots', unique_key='id',
          strategy='check', check_cols=['plan', 'amount']) }}
select id, name, plan, amount from {{ source('raw', 'customers') }}
{% endsnapshot %}
