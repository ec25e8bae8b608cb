{#
  Generic tests that gate a build. Each returns the rows that fail, so
  `dbt build` stops before anything downstream of the tested node runs.
#}

{# Data rules as in ml_validate: SQL boolean expressions or unique(col, ...).
     - quarry.quarry_validate:
         rules: ["age between 0 and 120", "unique(customer_id)"] #}
{% test quarry_validate(model, rules) %}
select rule, total_rows, failing_rows, sample
from ml_validate({{ quarry.relation_argument(model) }}
  {%- for rule in rules %}, {{ quarry.string_literal(rule) }}{% endfor %})
where not passed
{% endtest %}

{# On a quarry_model node: the rows of `relation` have not drifted from the
   model's training data (PSI of every feature at most max_psi).
     - quarry.quarry_no_drift:
         relation: ref('customers_to_score')
         max_psi: 0.25 #}
{% test quarry_no_drift(model, relation, max_psi=0.2) %}
select feature, value as psi
from {{ quarry.drift(model, relation) }}
where metric = 'psi' and value > {{ max_psi }}
{% endtest %}

{# On a quarry_model node: its metric is at least `min` (or at most `max`,
   for errors such as rmse), measured on `relation` when given (ml_evaluate,
   the label among its columns), else the one its latest version's training
   measured on held-out rows. No version, or no such metric, fails too.
     - quarry.quarry_metric:
         metric: roc_auc
         min: 0.75 #}
{% test quarry_metric(model, metric, min=none, max=none, relation=none) %}
{%- if min is none and max is none -%}
  {{ exceptions.raise_compiler_error("quarry_metric: give min or max for metric " ~ metric) }}
{%- endif -%}
{%- set name = quarry.string_literal(quarry.model_name(model)) -%}
{%- set metric_literal = quarry.string_literal(metric) -%}
with measured as (
{%- if relation is not none %}
  select value from {{ quarry.evaluate(model, relation) }}
  where metric = {{ metric_literal }}
{%- else %}
  select cast((regexp_match(metrics, {{ quarry.string_literal('"' ~ metric ~ '":(-?[0-9.eE+-]+)') }}))[1]
              as double precision) as value
  from (select metrics from ml_model_versions where model = {{ name }}
        order by version desc limit 1) as latest
{%- endif %}
)
select {{ metric_literal }} as metric, value
from measured
where not coalesce(
  {%- if min is not none %} value >= {{ min }}{% endif -%}
  {%- if min is not none and max is not none %} and{% endif -%}
  {%- if max is not none %} value <= {{ max }}{% endif %}, false)
union all
select {{ metric_literal }}, cast(null as double precision)
from (select 1) as one
where not exists (select 1 from measured)
{% endtest %}
