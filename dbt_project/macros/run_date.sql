{#- The run date and the exclusive end of its day (UTC), as SQL expressions. -#}
{% macro run_date() -%}
    cast('{{ var("ds") }}' as date)
{%- endmacro %}

{% macro run_day_end() -%}
    (cast('{{ var("ds") }} 00:00:00+00' as timestamp with time zone) + interval '1 day')
{%- endmacro %}

{#- Lower-cased, trimmed email; null when blank. Provider rules come with identity resolution. -#}
{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
