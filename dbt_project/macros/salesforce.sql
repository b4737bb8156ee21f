{#- Each record of a landed Salesforce object as of the run date: its newest landed version (by
    SystemModstamp, then landing date), deleted ones included. Columns are the landed ones plus
    version_rank (always 1). -#}
{% macro salesforce_newest_versions(object_name) -%}
    select *
    from (
        select
            *,
            row_number() over (partition by id order by systemmodstamp desc, ds desc) as version_rank
        from {{ source('salesforce', object_name) }}
        where ds <= {{ run_date() }}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
