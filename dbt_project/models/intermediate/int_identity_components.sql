-- Connected components of the identity graph: records joined, directly or through others, by a
-- joinable identifier. Portable SQL (a recursive walk, DuckDB and Postgres): each identifier links
-- its records to one hub record, and every record takes the smallest record key it can reach.
with recursive

identifiers as (
    select * from {{ ref('int_identity_identifiers') }}
    where is_joinable
),

records as (
    select record_key from {{ ref('int_identity_records_unioned') }}
),

links as (
    select
        record_key,
        min(record_key) over (partition by identifier_type, identifier_value) as hub_key
    from identifiers
),

edges as (
    select record_key as from_key, hub_key as to_key from links where record_key <> hub_key
    union
    select hub_key as from_key, record_key as to_key from links where record_key <> hub_key
),

walk (record_key, reached_from) as (
    select
        records.record_key,
        records.record_key as reached_from
    from records
    union
    select edges.to_key, walk.reached_from
    from walk
    inner join edges on walk.record_key = edges.from_key
)

select
    record_key,
    min(reached_from) as component_key
from walk
group by record_key
