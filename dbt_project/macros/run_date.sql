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

{#- A phone number in E.164 when it says its country (+ or 00 prefix); null otherwise, and for
    placeholder digit runs such as 0000000000. National numbers need a country and stay unstitched. -#}
{% macro normalize_phone(column) -%}
    {%- set digits = "regexp_replace(coalesce(" ~ column ~ ", ''), '[^0-9]', '', 'g')" -%}
    case
        when length({{ digits }}) < 7 then null
        when replace({{ digits }}, substr({{ digits }}, 1, 1), '') = '' then null
        when trim({{ column }}) like '+%' then '+' || {{ digits }}
        when trim({{ column }}) like '00%' then '+' || substr({{ digits }}, 3)
    end
{%- endmacro %}
