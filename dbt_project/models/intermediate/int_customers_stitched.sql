-- One customer_id per record: records that share a stitching email are one person.
-- customer_id is a hash of the stitching key, so it is stable across runs.
with

records as (
    select * from {{ ref('int_identity_records_unioned') }}
)

select
    record_key,
    source,
    record_id,
    sobject_type,
    'cus_' || substr(md5(coalesce(stitch_email, record_key)), 1, 16) as customer_id,
    email_normalized,
    first_name,
    last_name,
    phone,
    has_opted_out_of_email,
    is_do_not_call,
    is_converted,
    source_priority,
    created_at
from records
