-- Shoppers the CRM does not know: one row per person who ordered, left an email and has no
-- Salesforce Contact or Lead, shaped as the Lead crm360 would create for them. crm360 creates
-- records only when the mapping's entry for this model says `create_records: true` (off by
-- default: the run then only counts them in its plan); a person gets one Lead, once
-- (crm360_ops.sync_created), and leaves this model when the Lead comes back in the next extract.
with

customers as (
    select * from {{ ref('customer_360') }}
),

crm_records as (
    select distinct customer_id
    from {{ ref('int_customers_stitched') }}
    where source in ('salesforce_contact', 'salesforce_lead')
),

final as (
    select
        customers.customer_id,
        left(customers.first_name, 40) as first_name,
        left(coalesce(customers.last_name, '[not provided]'), 80) as last_name,
        '[not provided]' as company,
        left(customers.email, 80) as email,
        'Web' as lead_source,
        coalesce(customers.has_opted_out_of_email, true) as has_opted_out_of_email,
        coalesce(customers.is_do_not_call, true) as is_do_not_call,
        customers.country_code
    from customers
    left join crm_records on customers.customer_id = crm_records.customer_id
    where
        crm_records.customer_id is null
        and customers.email is not null
        and customers.order_count > 0
)

select * from final
