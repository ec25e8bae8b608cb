{#
  materialized='quarry_model': the model's SQL is the training query of a
  Quarry model named after the dbt model (its alias). Each build trains a
  new version (`CREATE MODEL`, or `CREATE OR REPLACE MODEL` with
  --full-refresh, which starts the version history again). Models
  downstream that score through quarry.predict & co. use the version this
  build trained, deployed or not.

  deploy: false (the default) leaves the version staged; true deploys it
  as soon as it is trained; 'after_tests' deploys it at the end of the run
  if its tests ran in that run (dbt build) and all passed, which needs the hook
      on-run-end: ["{{ quarry.deploy_tested_models(results) }}"]
  deploy_alias: the alias to deploy under ('production').

    {{ config(materialized='quarry_model', algorithm='gbdt', label='churned',
              task='classification', options={'rounds': 50, 'exclude': 'customer_id'},
              deploy='after_tests') }}
    select * from {{ ref('features') }}
#}
{% materialization quarry_model, adapter='postgres' %}
  {%- set name = model['alias'] -%}
  {%- set label = config.get('label') -%}
  {%- set options = {} -%}
  {%- for key in ['task', 'algorithm'] -%}
    {%- if config.get(key) is not none -%}{%- do options.update({key: config.get(key)}) -%}{%- endif -%}
  {%- endfor -%}
  {%- if label is not none -%}{%- do options.update({'label': label}) -%}{%- endif -%}
  {%- do options.update(config.get('options', {})) -%}
  {%- set replace = should_full_refresh() -%}

  {{ run_hooks(pre_hooks) }}

  {% call statement('main', fetch_result=True) -%}
    {{ quarry.create_model_sql(name, options, sql, replace) }}
  {%- endcall %}
  {%- set trained = load_result('main') -%}
  {%- set version = trained['data'][0][1] if trained and trained['data'] else none -%}
  {{ log("Quarry model " ~ name ~ " version " ~ version ~ " trained", info=True) }}

  {%- set deploy = config.get('deploy', false) -%}
  {%- if deploy not in [true, false, 'after_tests'] -%}
    {{ exceptions.raise_compiler_error("quarry_model " ~ name ~ ": deploy must be true, false or 'after_tests', got " ~ deploy) }}
  {%- endif -%}
  {% if deploy is sameas true and version is not none %}
    {{ quarry.deploy(name, version, config.get('deploy_alias', 'production')) }}
  {% endif %}

  {{ run_hooks(post_hooks) }}
  {{ adapter.commit() }}
  {{ return({'relations': []}) }}
{% endmaterialization %}

{# The CREATE MODEL statement: options rendered as Quarry reads them
   (numbers and booleans bare, strings quoted, lists joined with commas
   for a search over them). #}
{% macro create_model_sql(name, options, training_sql, replace=false) -%}
create {% if replace %}or replace {% endif %}model {{ adapter.quote(name) }} options (
  {%- for key, value in options.items() %}
  {{ key }} = {{ quarry.option_literal(value) }}{% if not loop.last %},{% endif %}
  {%- endfor %}
) as
{{ training_sql }}
{%- endmacro %}

{% macro option_literal(value) -%}
  {%- if value is sameas true or value is sameas false -%}
    {{ 'true' if value else 'false' }}
  {%- elif value is number -%}
    {{ value }}
  {%- elif value is string -%}
    {{ quarry.string_literal(value) }}
  {%- elif value is mapping -%}
    {{ quarry.string_literal(tojson(value)) }}
  {%- elif value is iterable -%}
    {{ quarry.string_literal(value | join(',')) }}
  {%- else -%}
    {{ quarry.string_literal(value | string) }}
  {%- endif -%}
{%- endmacro %}

{% macro string_literal(value) -%}
  '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro deploy(name, version, alias='production') -%}
  {%- set deployed = run_query("select ml_deploy(" ~ quarry.string_literal(name) ~ ", " ~ version
                               ~ ", " ~ quarry.string_literal(alias) ~ ")") -%}
  {{ log(deployed.columns[0].values()[0], info=True) }}
{%- endmacro %}

{# on-run-end: deploys the latest version of each quarry_model node
   configured deploy='after_tests' that built in this run and whose tests
   ran and all passed (a failed, errored or skipped test, or none run, as
   in `dbt run`, keeps it staged). #}
{% macro deploy_tested_models(results) -%}
  {%- if execute -%}
    {%- for result in results if result.node.config.materialized == 'quarry_model'
                                 and result.node.config.get('deploy') == 'after_tests' -%}
      {%- set node = result.node -%}
      {%- set tests = [] -%}
      {%- for other in results if other.node.resource_type == 'test' -%}
        {%- set attached = other.node.attached_node if other.node.attached_node is defined else none -%}
        {%- if attached == node.unique_id or (attached is none and node.unique_id in other.node.depends_on.nodes) -%}
          {%- do tests.append(other) -%}
        {%- endif -%}
      {%- endfor -%}
      {%- set failed = tests | rejectattr('status', 'in', ['pass', 'warn']) | list -%}
      {%- if result.status != 'success' -%}
        {{ log("Quarry model " ~ node.alias ~ " not deployed: it did not build", info=True) }}
      {%- elif not tests -%}
        {{ log("Quarry model " ~ node.alias ~ " not deployed: none of its tests ran (dbt build runs them)", info=True) }}
      {%- elif failed -%}
        {{ log("Quarry model " ~ node.alias ~ " not deployed: " ~ failed | length ~ " of its tests did not pass", info=True) }}
      {%- else -%}
        {%- set version = quarry.latest_version(node.alias) -%}
        {%- if version is not none -%}
          {{ quarry.deploy(node.alias, version, node.config.get('deploy_alias', 'production')) }}
        {%- endif -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  select 1
{%- endmacro %}

{# The newest version of Quarry model `name`, none if it has none. #}
{% macro latest_version(name) -%}
  {%- set found = run_query("select max(version) from ml_model_versions where model = "
                            ~ quarry.string_literal(name)) -%}
  {{ return(found.columns[0].values()[0] if found and found.columns[0].values() else none) }}
{%- endmacro %}
