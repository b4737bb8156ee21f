-- RFM scores of every person with at least one order, as of the run date, and the usual named RFM
-- segment. Each score is a quintile 1-5 over the people with orders (5 = best): recency by the
-- newest order's timestamp (rarely tied), frequency by order count, monetary by lifetime value net
-- of refunds. Tied values share the lower score (1 + floor(5 * percent_rank)), so two people with
-- the same order count always get the same frequency score.
with

orders as (
    select * from {{ ref('int_orders_attributed') }}
    where not is_cancelled and customer_id is not null and ordered_at < {{ run_day_end() }}
),

order_facts as (
    select
        customer_id,
        count(*) as order_count,
        sum(order_value - refunded_value) as monetary_value,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

ranked as (
    select
        customer_id,
        order_count,
        monetary_value,
        last_ordered_at,
        percent_rank() over (order by last_ordered_at) as recency_rank,
        percent_rank() over (order by order_count) as frequency_rank,
        percent_rank() over (order by monetary_value) as monetary_rank
    from order_facts
),

scored as (
    select
        customer_id,
        order_count,
        monetary_value,
        {{ run_date() }} - cast(last_ordered_at as date) as recency_days,
        least(5, 1 + cast(floor(5 * recency_rank) as integer)) as recency_score,
        least(5, 1 + cast(floor(5 * frequency_rank) as integer)) as frequency_score,
        least(5, 1 + cast(floor(5 * monetary_rank) as integer)) as monetary_score
    from ranked
),

-- The named segments, first match wins, over recency (R) and the sum of frequency and monetary
-- (FM, 2-10). Every (R, FM) pair has exactly one name:
--   R 4-5: FM >= 8 champions, 6-7 loyal customers, 4-5 potential loyalists,
--          2-3 new customers (R 5) or promising (R 4)
--   R 3:   FM >= 6 loyal customers, 4-5 need attention, 2-3 about to sleep
--   R 2:   FM >= 5 at risk, 2-4 hibernating
--   R 1:   FM >= 8 cannot lose them, 5-7 at risk, 2-4 lost
final as (
    select
        customer_id,
        recency_days,
        order_count as frequency_orders,
        {{ round_to('monetary_value', 2) }} as monetary_value,
        recency_score,
        frequency_score,
        monetary_score,
        cast(recency_score as varchar) || cast(frequency_score as varchar) || cast(monetary_score as varchar)
            as rfm_score,
        case
            when recency_score >= 4 and frequency_score + monetary_score >= 8 then 'champions'
            when recency_score >= 3 and frequency_score + monetary_score >= 6 then 'loyal_customers'
            when recency_score >= 4 and frequency_score + monetary_score >= 4 then 'potential_loyalists'
            when recency_score = 5 then 'new_customers'
            when recency_score = 4 then 'promising'
            when recency_score = 3 and frequency_score + monetary_score >= 4 then 'need_attention'
            when recency_score = 3 then 'about_to_sleep'
            when recency_score = 2 and frequency_score + monetary_score >= 5 then 'at_risk'
            when recency_score = 2 then 'hibernating'
            when frequency_score + monetary_score >= 8 then 'cannot_lose_them'
            when frequency_score + monetary_score >= 5 then 'at_risk'
            else 'lost'
        end as rfm_segment
    from scored
)

select * from final
