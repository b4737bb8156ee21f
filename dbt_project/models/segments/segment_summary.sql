-- One row per declared segment for the run date: members, held out, sendable, and the size guard.
-- A segment smaller than its min_size (over-narrow hyper-segmentation) is flagged and nothing of
-- it is sent; a segment nobody matches is listed with zero members.
{%- set definitions = segment_definitions() %}

with

definitions as (
    {{ segment_definitions_relation(definitions) }}
),

memberships as (
    select * from {{ ref('customer_segments') }}
),

counts as (
    select
        segment_name,
        count(*) as members,
        sum(case when is_holdout then 1 else 0 end) as holdout_members,
        sum(case when is_sendable then 1 else 0 end) as sendable_members
    from memberships
    group by segment_name
),

final as (
    select
        definitions.segment_name,
        definitions.segment_kind,
        definitions.segment_description,
        definitions.campaign_name,
        definitions.campaign_channel,
        definitions.exclusivity_group,
        definitions.segment_priority,
        definitions.holdout_pct,
        definitions.min_size,
        definitions.segment_rule,
        coalesce(counts.members, 0) as members,
        coalesce(counts.holdout_members, 0) as holdout_members,
        coalesce(counts.sendable_members, 0) as sendable_members,
        coalesce(counts.members, 0) < definitions.min_size as is_below_min_size,
        {{ run_date() }} as as_of_date
    from definitions
    left join counts on definitions.segment_name = counts.segment_name
)

select * from final
