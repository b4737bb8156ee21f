-- One row per SendGrid event (deduplicated on sg_event_id), up to the end of the run date.
with

source as (
    select * from {{ source('sendgrid', 'email_events') }}
    where ds <= {{ run_date() }}
),

deduplicated as (
    select
        *,
        row_number() over (partition by sg_event_id order by ds) as copy_rank
    from source
),

renamed as (
    select
        -- ids
        sg_event_id as email_event_id,
        sg_message_id as email_message_id,
        marketing_campaign_id as email_campaign_id,
        -- strings
        email,
        {{ normalize_email('email') }} as email_normalized,
        event as event_type,
        marketing_campaign_name as email_campaign_name,
        url as clicked_url,
        -- timestamps
        event_at,
        ds as landed_date
    from deduplicated
    where copy_rank = 1 and event_at < {{ run_day_end() }}
)

select * from renamed
