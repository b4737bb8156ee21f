-- Campaign lift per segment, as of the run date: how members of a segment's Salesforce Campaign
-- responded and converted, against the segment's holdout (people crm360 never sent).
--
-- Who is compared (people with a live Contact: an Opportunity belongs to a Contact and an Account,
-- so a person known only as a Lead can convert on neither side):
-- * members: people with a CampaignMember in the campaign (landed by the run date; one crm360
--   removed later still counts: they were sent the campaign) who entered the segment. Their window
--   opens when their first CampaignMember was created.
-- * holdouts: people who entered the segment before the run date, whose md5 holdout draw
--   (segment_holdout_bucket, as in customer_segments) is below the segment's holdout_pct, whose
--   consent allows the campaign's channel (as publish.campaign_members requires of members) and who
--   are not members. Their window opens the day after their first entry: when the push that follows
--   the build that placed them would have added them. Entries on the run date itself are not
--   counted on either side (their adds land with the next date's extract).
-- * responded: a member with HasResponded on any of their CampaignMembers in the campaign.
-- * converted: a person with a Closed Won Opportunity on one of their Contacts, created in their
--   window and closed by the run date.
--
-- conversion_lift = member_conversion_rate / holdout_conversion_rate - 1 (relative lift).
-- lift_ci_low/high: 95% confidence interval of the relative lift from the log risk ratio (Katz):
-- exp(ln(RR) +- 1.96 * sqrt(1/a - 1/n1 + 1/c - 1/n2)) - 1, with a and c the converted members and
-- holdouts out of n1 and n2; when either count is 0, 0.5 is added to every cell
-- (Haldane-Anscombe) so the interval stays finite. Null without holdouts. Rates and lifts are
-- rounded to 6 places.
{%- set z = 1.959964 %}

with

campaigns as (
    select
        segment_name,
        campaign_name,
        campaign_channel,
        holdout_pct
    from {{ ref('segment_definitions') }}
    where campaign_name is not null
),

-- everyone who entered a segment by the run date, with their first entry
entries as (
    select
        customer_id,
        segment_name,
        min(event_date) as entered_date
    from {{ ref('segment_membership_history') }}
    where event_type = 'entered' and event_date <= {{ run_date() }}
    group by customer_id, segment_name
),

records as (
    select
        record_id,
        source,
        customer_id
    from {{ ref('int_customers_stitched') }}
    where source in ('salesforce_contact', 'salesforce_lead')
),

people_with_contact as (
    select distinct customer_id
    from records
    where source = 'salesforce_contact'
),

org_campaigns as (
    select
        sfdc_campaign_id,
        lower(campaign_name) as campaign_key
    from {{ ref('stg_salesforce__campaigns') }}
    where not is_deleted
),

member_records as (
    select
        campaigns.segment_name,
        campaigns.campaign_name,
        records.customer_id,
        min(members.created_at) as window_start_at,
        max(case when members.has_responded then 1 else 0 end) as has_responded
    from {{ ref('stg_salesforce__campaign_members') }} as members
    inner join org_campaigns on members.sfdc_campaign_id = org_campaigns.sfdc_campaign_id
    inner join campaigns on org_campaigns.campaign_key = lower(campaigns.campaign_name)
    inner join records on members.sfdc_record_id = records.record_id
    group by campaigns.segment_name, campaigns.campaign_name, records.customer_id
),

members as (
    select
        member_records.segment_name,
        member_records.campaign_name,
        member_records.customer_id,
        'member' as arm,
        member_records.window_start_at,
        member_records.has_responded
    from member_records
    inner join entries
        on
            member_records.customer_id = entries.customer_id
            and member_records.segment_name = entries.segment_name
    inner join people_with_contact on member_records.customer_id = people_with_contact.customer_id
),

holdouts as (
    select
        entries.segment_name,
        campaigns.campaign_name,
        entries.customer_id,
        'holdout' as arm,
        cast(cast(entries.entered_date as varchar) || ' 00:00:00+00' as timestamp with time zone)
        + interval '1 day' as window_start_at,
        0 as has_responded
    from entries
    inner join campaigns on entries.segment_name = campaigns.segment_name
    inner join {{ ref('customer_360') }} as customers on entries.customer_id = customers.customer_id
    inner join people_with_contact on entries.customer_id = people_with_contact.customer_id
    left join members
        on
            entries.customer_id = members.customer_id
            and entries.segment_name = members.segment_name
    where
        entries.entered_date < {{ run_date() }}
        and members.customer_id is null
        and {{ segment_holdout_bucket('entries.segment_name', 'entries.customer_id') }} < campaigns.holdout_pct
        and (
            (campaigns.campaign_channel = 'email' and not coalesce(customers.has_opted_out_of_email, true))
            or (campaigns.campaign_channel = 'phone' and not coalesce(customers.is_do_not_call, true))
        )
),

compared as (
    select * from members
    union all
    select * from holdouts
),

wins as (
    select
        records.customer_id,
        opportunities.created_at
    from {{ ref('stg_salesforce__opportunities') }} as opportunities
    inner join records on opportunities.sfdc_contact_id = records.record_id
    where
        opportunities.is_won
        and not opportunities.is_deleted
        and opportunities.close_date <= {{ run_date() }}
        and opportunities.created_at < {{ run_day_end() }}
),

outcomes as (
    select
        compared.segment_name,
        compared.campaign_name,
        compared.customer_id,
        compared.arm,
        max(compared.has_responded) as has_responded,
        max(case when wins.customer_id is not null then 1 else 0 end) as has_converted
    from compared
    left join wins
        on
            compared.customer_id = wins.customer_id
            and wins.created_at >= compared.window_start_at
    group by compared.segment_name, compared.campaign_name, compared.customer_id, compared.arm
),

counts as (
    select
        segment_name,
        campaign_name,
        sum(case when arm = 'member' then 1 else 0 end) as members,
        sum(case when arm = 'member' then has_responded else 0 end) as member_responses,
        sum(case when arm = 'member' then has_converted else 0 end) as member_conversions,
        sum(case when arm = 'holdout' then 1 else 0 end) as holdouts,
        sum(case when arm = 'holdout' then has_converted else 0 end) as holdout_conversions
    from outcomes
    group by segment_name, campaign_name
    having sum(case when arm = 'member' then 1 else 0 end) > 0
),

-- the cells of the 2x2 table, with 0.5 added to each when one is empty (Haldane-Anscombe)
cells as (
    select
        *,
        case
            when member_conversions = 0 or holdout_conversions = 0 then 0.5
            else 0.0
        end as correction
    from counts
),

log_ratio as (
    select
        *,
        case
            when holdouts > 0 then
                ln(
                    ((member_conversions + correction) / (members + 2 * correction))
                    / ((holdout_conversions + correction) / (holdouts + 2 * correction))
                )
        end as log_risk_ratio,
        case
            when holdouts > 0 then
                sqrt(
                    1.0 / (member_conversions + correction) - 1.0 / (members + 2 * correction)
                    + 1.0 / (holdout_conversions + correction) - 1.0 / (holdouts + 2 * correction)
                )
        end as log_risk_ratio_se
    from cells
),

rates as (
    select
        *,
        cast(member_responses as double precision) / members as member_response_rate,
        cast(member_conversions as double precision) / members as member_conversion_rate,
        cast(holdout_conversions as double precision) / nullif(holdouts, 0) as holdout_conversion_rate
    from log_ratio
)

select
    {{ run_date() }} as as_of_date,
    segment_name,
    campaign_name,
    cast(members as integer) as members,
    cast(holdouts as integer) as holdouts,
    cast(member_responses as integer) as member_responses,
    cast(member_conversions as integer) as member_conversions,
    cast(holdout_conversions as integer) as holdout_conversions,
    {{ round_to('member_response_rate', 6) }} as member_response_rate,
    {{ round_to('member_conversion_rate', 6) }} as member_conversion_rate,
    {{ round_to('holdout_conversion_rate', 6) }} as holdout_conversion_rate,
    {{ round_to('member_conversion_rate / nullif(holdout_conversion_rate, 0) - 1', 6) }} as conversion_lift,
    {{ round_to('exp(log_risk_ratio - ' ~ z ~ ' * log_risk_ratio_se) - 1', 6) }} as lift_ci_low,
    {{ round_to('exp(log_risk_ratio + ' ~ z ~ ' * log_risk_ratio_se) - 1', 6) }} as lift_ci_high
from rates
