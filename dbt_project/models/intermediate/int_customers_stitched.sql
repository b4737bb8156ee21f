-- One customer_id per record. Records in one identity component are one person. The customer_id
-- is derived from the component's oldest record (its anchor), so it stays the same when newer
-- records join the person; it changes only when two people merge (the older id survives) or a
-- person splits.
with

records as (
    select * from {{ ref('int_identity_records_unioned') }}
),

components as (
    select * from {{ ref('int_identity_components') }}
),

anchored as (
    select
        records.*,
        components.component_key,
        first_value(records.record_key) over (
            partition by components.component_key
            order by records.created_at nulls last, records.source_priority, records.record_key
        ) as anchor_record_key
    from records
    inner join components on records.record_key = components.record_key
)

select
    record_key,
    source,
    record_id,
    sobject_type,
    'cus_' || substr(md5(anchor_record_key), 1, 16) as customer_id,
    anchor_record_key,
    email_normalized,
    phone_normalized,
    first_name,
    last_name,
    phone,
    birth_date,
    has_opted_out_of_email,
    is_do_not_call,
    is_converted,
    city,
    postal_code,
    country_code,
    owner_id,
    time_zone,
    source_priority,
    created_at
from anchored
