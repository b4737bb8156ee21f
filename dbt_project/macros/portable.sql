{#- SQL that differs between the warehouses crm360 builds on (DuckDB by default, Postgres). -#}

{#- The text value of a top-level key of a JSON text column. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'crm360')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text(column, key) -%}
    (cast({{ column }} as json) ->> '{{ key }}')
{%- endmacro %}

{#- The Salesforce custom fields (names ending __c) of a landed object, as extra select items
    (each with a leading comma), so that a field added in the org reaches staging unchanged. -#}
{% macro custom_fields(relation) -%}
    {{ return(adapter.dispatch('custom_fields', 'crm360')(relation)) }}
{%- endmacro %}

{% macro default__custom_fields(relation) -%}
    , columns('.*__c$')
{%- endmacro %}

{% macro postgres__custom_fields(relation) -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) if column.name.lower().endswith('__c') %}
    , {{ adapter.quote(column.name) }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- round() of a float to n places, as a float (Postgres rounds to places only numerics; DuckDB's plain
    numeric is decimal(18,3), which would cut to 3 places and overflow at 10^15). -#}
{% macro round_to(expression, places) -%}
    cast(round(cast({{ expression }} as numeric(38, 10)), {{ places }}) as float8)
{%- endmacro %}

{#- A UTC timestamp (with time zone) as wall-clock time in an IANA zone given by a column. -#}
{% macro local_time(timestamp, zone) -%}
    {{ return(adapter.dispatch('local_time', 'crm360')(timestamp, zone)) }}
{%- endmacro %}

{% macro default__local_time(timestamp, zone) -%}
    timezone({{ zone }}, {{ timestamp }})
{%- endmacro %}

{% macro postgres__local_time(timestamp, zone) -%}
    ({{ timestamp }} at time zone {{ zone }})
{%- endmacro %}

{#- The per-customer value scores: the Python model customer_value on DuckDB; on warehouses whose
    dbt adapter runs no Python models, the stand-in customer_value_unscored (same columns, null scores). -#}
{% macro customer_value_scores() -%}
    {%- if target.type == 'duckdb' -%}
        {{ ref('customer_value') }}
    {%- else -%}
        {{ ref('customer_value_unscored') }}
    {%- endif -%}
{%- endmacro %}
