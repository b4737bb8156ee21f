{#- Golden-record survivorship for one field of a person: the value from the most trusted source
    (lowest source_priority: Contact, Lead, shop, ESP, web), then the most recent record, ignoring
    nulls; plus `<column>_source`, the record_key the surviving value came from. Use inside a select
    over records that carry customer_id, source_priority, created_at and record_key. -#}
{% macro survivor(column) -%}
    {%- set order -%}
        partition by customer_id
        order by ({{ column }} is null), source_priority, created_at desc nulls last, record_key
    {%- endset -%}
    first_value({{ column }}) over ({{ order }}) as {{ column }},
    first_value(case when {{ column }} is not null then record_key end) over ({{ order }}) as {{ column }}_source
{%- endmacro %}
