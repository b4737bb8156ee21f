-- Up to `recommendations_per_customer` products per person that they have not bought yet, best
-- first, each with where it came from (source) and a short reason a message can show:
--   co_purchase         products often bought with what the person bought (int_product_pairs);
--                       score = the summed lift over the person's purchases; reason names the
--                       purchase with the strongest lift;
--   popular_in_segment  popular with the people who share the person's favourite category (their
--                       interest segment, int_customer_category_affinity rank 1, from purchases or
--                       browsing); score = the share of the segment that bought it recently;
--   popular             popular overall; score = the share of recent orders that hold it.
-- Co-purchase comes first, then the segment, then overall popularity. Fallback lists hold only the
-- `recommendations_popular_candidates` most popular products, and overall popularity is added only
-- for people short of a full list, so the work grows with people x that constant, not with the
-- catalog; a person who already bought most of them gets fewer rows.
with

customers as (
    select distinct customer_id
    from {{ ref('int_customers_stitched') }}
),

lines as (
    select * from {{ ref('int_order_lines_attributed') }}
    where customer_id is not null
),

catalog as (
    select * from {{ ref('int_product_popularity') }}
),

affinity as (
    select * from {{ ref('int_customer_category_affinity') }}
),

bought as (
    select distinct
        customer_id,
        product_id
    from lines
),

-- the strongest partners of each product, among products still in the catalog
partners as (
    select
        product_id,
        paired_product_id,
        lift
    from (
        select
            pairs.product_id,
            pairs.paired_product_id,
            pairs.lift,
            row_number() over (
                partition by pairs.product_id
                order by pairs.lift desc, pairs.pair_orders desc, pairs.paired_product_id
            ) as partner_rank
        from {{ ref('int_product_pairs') }} as pairs
        inner join catalog on pairs.paired_product_id = catalog.product_id
        where pairs.lift > 1 and pairs.is_significant
    ) as ranked
    where partner_rank <= {{ var('recommendations_partners_per_product') }}
),

co_purchase_evidence as (
    select
        bought.customer_id,
        partners.paired_product_id as product_id,
        partners.product_id as bought_product_id,
        sum(partners.lift) over (
            partition by bought.customer_id, partners.paired_product_id
        ) as score,
        row_number() over (
            partition by bought.customer_id, partners.paired_product_id
            order by partners.lift desc, partners.product_id
        ) as evidence_rank
    from bought
    inner join partners on bought.product_id = partners.product_id
    left join bought as already
        on bought.customer_id = already.customer_id and partners.paired_product_id = already.product_id
    where already.product_id is null
),

co_purchase as (
    select
        co_purchase_evidence.customer_id,
        co_purchase_evidence.product_id,
        co_purchase_evidence.score,
        'co_purchase' as source,
        1 as source_priority,
        'Often bought with ' || because.product_title as reason
    from co_purchase_evidence
    inner join catalog as because on co_purchase_evidence.bought_product_id = because.product_id
    where co_purchase_evidence.evidence_rank = 1
),

segment_members as (
    select
        customer_id,
        product_category as interest_category
    from affinity
    where affinity_rank = 1
),

segment_sizes as (
    select
        interest_category,
        count(*) as members
    from segment_members
    group by interest_category
),

segment_sales as (
    select
        segment_members.interest_category,
        lines.product_id,
        count(distinct lines.customer_id) as buyers
    from lines
    inner join segment_members on lines.customer_id = segment_members.customer_id
    where
        lines.ordered_at >= {{ run_day_end() }} - interval '{{ var("recommendations_popularity_window_days") }} days'
    group by segment_members.interest_category, lines.product_id
),

segment_top as (
    select
        interest_category,
        product_id,
        score
    from (
        select
            segment_sales.interest_category,
            segment_sales.product_id,
            cast(segment_sales.buyers as float8) / segment_sizes.members as score,
            row_number() over (
                partition by segment_sales.interest_category
                order by segment_sales.buyers desc, segment_sales.product_id
            ) as segment_rank
        from segment_sales
        inner join segment_sizes on segment_sales.interest_category = segment_sizes.interest_category
        inner join catalog on segment_sales.product_id = catalog.product_id
    ) as ranked
    where segment_rank <= {{ var('recommendations_popular_candidates') }}
),

popular_in_segment as (
    select
        segment_members.customer_id,
        segment_top.product_id,
        segment_top.score,
        'popular_in_segment' as source,
        2 as source_priority,
        'Popular with ' || segment_members.interest_category || ' fans' as reason
    from segment_members
    inner join segment_top on segment_members.interest_category = segment_top.interest_category
    left join bought
        on segment_members.customer_id = bought.customer_id and segment_top.product_id = bought.product_id
    where bought.product_id is null
),

personal as (
    select * from co_purchase
    union all
    select * from popular_in_segment
),

personal_counts as (
    select
        customer_id,
        count(distinct product_id) as candidates
    from personal
    group by customer_id
),

popular_top as (
    select
        product_id,
        cast(recent_orders as float8) / sum(recent_orders) over () as score
    from catalog
    where recent_orders > 0 and popularity_rank <= {{ var('recommendations_popular_candidates') }}
),

popular as (
    select
        customers.customer_id,
        popular_top.product_id,
        popular_top.score,
        'popular' as source,
        3 as source_priority,
        'Popular right now' as reason
    from customers
    left join personal_counts on customers.customer_id = personal_counts.customer_id
    cross join popular_top
    left join bought
        on customers.customer_id = bought.customer_id and popular_top.product_id = bought.product_id
    where
        coalesce(personal_counts.candidates, 0) < {{ var('recommendations_per_customer') }}
        and bought.product_id is null
),

candidates as (
    select
        *,
        row_number() over (
            partition by customer_id, product_id order by source_priority, score desc
        ) as source_rank
    from (
        select * from personal
        union all
        select * from popular
    ) as unioned
),

ranked as (
    select
        customer_id,
        product_id,
        score,
        source,
        reason,
        row_number() over (
            partition by customer_id order by source_priority, score desc, product_id
        ) as recommendation_rank
    from candidates
    where source_rank = 1
),

final as (
    select
        ranked.customer_id,
        ranked.recommendation_rank,
        ranked.product_id,
        catalog.product_title,
        catalog.product_category,
        {{ round_to('ranked.score', 4) }} as score,
        ranked.source,
        ranked.reason
    from ranked
    inner join catalog on ranked.product_id = catalog.product_id
    where ranked.recommendation_rank <= {{ var('recommendations_per_customer') }}
)

select * from final
