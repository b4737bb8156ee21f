-- Who should be a member of each segment's Salesforce Campaign today: one row per campaign and
-- Salesforce record. crm360's activation adds the records missing from a campaign and removes the
-- members it added itself that are no longer here (crm360.activation.campaigns).
-- * segments with a campaign (segments.yml `campaign`) that are not below their minimum size;
-- * sendable members only: a held-out person is never added;
-- * consent by the campaign's channel, the most restrictive across the person's records
--   (customer_360): opted out of email, never in an email campaign; Do Not Call, never in a phone
--   campaign; unknown consent counts as no;
-- * live Contacts and unconverted Leads, as in contact_attributes (deleted and merged records are
--   gone upstream; converted Leads are identity edges, never written): a person with two Contacts
--   is a member through both.
with

campaigns as (
    select
        segment_name,
        campaign_name,
        campaign_channel
    from {{ ref('segment_summary') }}
    where campaign_name is not null and not is_below_min_size
),

memberships as (
    select
        customer_id,
        segment_name
    from {{ ref('customer_segments') }}
    where is_sendable
),

customers as (
    select
        customer_id,
        has_opted_out_of_email,
        is_do_not_call
    from {{ ref('customer_360') }}
),

records as (
    select
        record_id,
        sobject_type,
        customer_id
    from {{ ref('int_customers_stitched') }}
    where source in ('salesforce_contact', 'salesforce_lead') and not is_converted
),

reachable as (
    select
        campaigns.campaign_name,
        campaigns.campaign_channel,
        memberships.segment_name,
        memberships.customer_id
    from memberships
    inner join campaigns on memberships.segment_name = campaigns.segment_name
    inner join customers on memberships.customer_id = customers.customer_id
    where
        (campaigns.campaign_channel = 'email' and not coalesce(customers.has_opted_out_of_email, true))
        or (campaigns.campaign_channel = 'phone' and not coalesce(customers.is_do_not_call, true))
),

-- segments may share a campaign (with one channel, checked when dbt compiles): a record is one
-- member of it, listed under the first of its segments by name
final as (
    select
        reachable.campaign_name,
        reachable.campaign_channel,
        min(reachable.segment_name) as segment_name,
        records.record_id as sfdc_record_id,
        records.sobject_type,
        reachable.customer_id
    from reachable
    inner join records on reachable.customer_id = records.customer_id
    group by
        reachable.campaign_name,
        reachable.campaign_channel,
        records.record_id,
        records.sobject_type,
        reachable.customer_id
)

select * from final
