-- The segment catalog (models/segments/segments.yml) as a table: one row per segment, with the
-- defaults filled in. Browse it in the warehouse; activation reads campaign names from here.
{%- set definitions = segment_definitions() %}

with

definitions as (
    {{ segment_definitions_relation(definitions) }}
)

select * from definitions
