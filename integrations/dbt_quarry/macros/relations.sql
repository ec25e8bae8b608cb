{#
  Relations over a Quarry model, for a model's FROM clause:

    select * from {{ quarry.predict(ref('churn'), ref('customers_to_score')) }}

  `model` is a quarry_model node (ref('churn')), a model name, or a pinned
  reference ('churn@3', 'churn@challenger'); `relation` a ref, a source, or
  a query text starting with select/with.
#}

{% macro model_name(model) -%}
  {%- if model is string -%}{{ model }}{%- else -%}{{ model.identifier }}{%- endif -%}
{%- endmacro %}

{# What a scoring call names: a string as given (its production alias, else
   its latest version, or the version or alias it pins); a quarry_model node
   the version this build trained (its latest), so what dbt's lineage shows
   is what scored, deployed or not. #}
{% macro model_reference(model) -%}
  {%- if model is string or not execute -%}
    {{ quarry.model_name(model) }}
  {%- else -%}
    {%- set version = quarry.latest_version(model.identifier) -%}
    {{ model.identifier }}{% if version is not none %}@{{ version }}{% endif %}
  {%- endif -%}
{%- endmacro %}

{% macro relation_argument(relation) -%}
  {%- if relation is string -%}({{ relation }}){%- else -%}(select * from {{ relation }}){%- endif -%}
{%- endmacro %}

{# Input columns, prediction (and probability for a classifier). #}
{% macro predict(model, relation) -%}
  ml_predict({{ quarry.string_literal(quarry.model_reference(model)) }}, {{ quarry.relation_argument(relation) }})
{%- endmacro %}

{# Input columns and the positive class's probability. #}
{% macro predict_proba(model, relation) -%}
  {%- set columns = [] -%}
  {%- if execute and relation is not string -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do columns.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
  {%- endif -%}
  (select {{ columns | join(', ') if columns else '*' }}{% if columns %}, probability{% endif %}
   from {{ quarry.predict(model, relation) }}) as quarry_predict_proba
{%- endmacro %}

{# metric, value, ci_lower, ci_upper on the rows of relation (with the label). #}
{% macro evaluate(model, relation, options=none) -%}
  ml_evaluate({{ quarry.string_literal(quarry.model_reference(model)) }}, {{ quarry.relation_argument(relation) }}
  {%- if options is not none %}, {{ quarry.string_literal(tojson(options)) }}{% endif %})
{%- endmacro %}

{# Input columns, prediction, base_value and each row's explanation (JSON). #}
{% macro explain(model, relation, top_k=none) -%}
  ml_explain({{ quarry.string_literal(quarry.model_reference(model)) }}, {{ quarry.relation_argument(relation) }}
  {%- if top_k is not none %}, {{ top_k }}{% endif %})
{%- endmacro %}

{# feature, metric, value, p_value, threshold, drifted: relation against the
   model's training profile. #}
{% macro drift(model, relation) -%}
  ml_drift({{ quarry.string_literal(quarry.model_reference(model)) }}, {{ quarry.relation_argument(relation) }})
{%- endmacro %}
