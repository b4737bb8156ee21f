-- Emails that belong to exactly one person: only these attribute orders and email events to a
-- person (an address shared by several people attributes nothing).
with

records as (
    select * from {{ ref('int_customers_stitched') }}
    where email_normalized is not null
)

select
    email_normalized,
    min(customer_id) as customer_id
from records
group by email_normalized
having count(distinct customer_id) = 1
