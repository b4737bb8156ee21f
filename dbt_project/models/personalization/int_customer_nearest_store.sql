-- Each person's nearest store or branch (seeds/store_locations.csv) by great-circle distance from
-- their city (seeds/geo_cities.csv). The distance is computed once per known city, not per person,
-- so the cost does not grow with the number of customers. People in a city the seed does not know
-- get none (extend geo_cities).
with

customers as (
    select customer_id, country_code, city from {{ ref('customer_360') }}
),

cities as (
    select * from {{ ref('geo_cities') }}
),

stores as (
    select * from {{ ref('store_locations') }}
),

distances as (
    select
        cities.country_code,
        cities.city,
        stores.store_id,
        stores.store_name,
        stores.city as store_city,
        -- haversine, earth radius 6371 km
        2 * 6371 * asin(sqrt(
            power(sin(radians(stores.latitude - cities.latitude) / 2), 2)
            + cos(radians(cities.latitude)) * cos(radians(stores.latitude))
            * power(sin(radians(stores.longitude - cities.longitude) / 2), 2)
        )) as distance_km
    from cities
    cross join stores
),

nearest as (
    select
        *,
        row_number() over (partition by country_code, city order by distance_km, store_id) as distance_rank
    from distances
)

select
    customers.customer_id,
    nearest.store_id as nearest_store_id,
    nearest.store_name as nearest_store_name,
    nearest.store_city as nearest_store_city,
    {{ round_to('nearest.distance_km', 1) }} as nearest_store_distance_km
from customers
inner join nearest
    on
        customers.country_code = nearest.country_code
        and lower(customers.city) = lower(nearest.city)
        and nearest.distance_rank = 1
