-- One row per person and segment they are in, as of the run date. The segments are declared in
-- models/segments/segments.yml (see macros/segments.sql for the format); within an exclusivity
-- group a person is only in the matching segment with the lowest priority number.
-- is_holdout: a stable draw from (segment, customer_id) below the segment's holdout_pct; held-out
-- people are kept for lift measurement and never sent. is_sendable: not held out and the segment
-- is not below its minimum size. Kind, campaign and the other attributes of a segment are in
-- segment_summary (one row per segment): at millions of people this table stays narrow.
{%- set definitions = segment_definitions() %}
{%- set features = ref('customer_segment_features') %}

with

definitions as (
    {{ segment_definitions_relation(definitions) }}
),

matches as (
    {{ segment_matches(definitions, features) }}
),

sizes as (
    select
        segment_name,
        count(*) as segment_members
    from matches
    group by segment_name
),

final as (
    select
        matches.customer_id,
        matches.segment_name,
        {{ segment_holdout_bucket('matches.segment_name', 'matches.customer_id') }} < definitions.holdout_pct
            as is_holdout,
        sizes.segment_members < definitions.min_size as is_below_min_size,
        {{ run_date() }} as as_of_date
    from matches
    inner join definitions on matches.segment_name = definitions.segment_name
    inner join sizes on matches.segment_name = sizes.segment_name
)

select
    customer_id,
    segment_name,
    is_holdout,
    not is_holdout and not is_below_min_size as is_sendable,
    as_of_date
from final
