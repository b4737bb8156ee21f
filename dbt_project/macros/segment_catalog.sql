{#-
    THE SEGMENT CATALOG: every segment crm360 builds, as YAML between the raw tags below. Edit it to
    add, change or remove a segment; no Python needed. (It lives in a macro because a macro is the one
    place dbt can read from everywhere: models, unit tests and while parsing.)

    Each definition (checked when dbt compiles, macros/segments.sql; rules checked against the
    warehouse by `crm360 segments check`):
      name               snake_case, unique: the segment's id in the history and in Salesforce
      description        what it is for
      kind               demographic | geographic | behavioural | psychographic | lifecycle | value
      rule               plain SQL, true for a member, over marts.customer_segment_features: every
                         customer_360 column plus rfm_*, lifecycle_stage, primary_/secondary_interest;
                         null counts as "not a member"; no ';'
      exclusivity_group  optional; a person is in one segment of a group: the matching one with the
      priority           lowest priority number (1 wins over 2); priorities are unique in a group
      campaign           optional: the Salesforce Campaign the segment is sent to
      holdout_pct        optional, 0-50 (default var segment_holdout_pct): held out, never sent
      min_size           optional, >= 0 (default var segment_min_size): a smaller segment is not sent

    Every rule needs two rows in the unit test customer_segments_catalog_rules
    (models/segments/_segments__unit_tests.yml): customer_id `<name>__match`, in the segment, and
    `<name>__no`, not in it.
-#}
-- noqa: disable=LT02
{% macro segment_catalog() -%}
{%- set catalog_yaml -%}
{% raw %}
# --- value: RFM (customer_rfm); the named segments never overlap, the group makes it explicit
- name: rfm_champions
  description: Bought recently, often and for a lot; reward them, early access.
  kind: value
  rule: rfm_segment = 'champions'
  exclusivity_group: rfm
  priority: 1
  campaign: RFM - Champions
- name: rfm_loyal_customers
  description: Buy regularly and spend well; upsell and loyalty programme.
  kind: value
  rule: rfm_segment = 'loyal_customers'
  exclusivity_group: rfm
  priority: 2
  campaign: RFM - Loyal customers
- name: rfm_potential_loyalists
  description: Recent customers with average frequency and spend; offer membership.
  kind: value
  rule: rfm_segment = 'potential_loyalists'
  exclusivity_group: rfm
  priority: 3
- name: rfm_new_customers
  description: Bought very recently, once and not much yet; onboard them.
  kind: value
  rule: rfm_segment = 'new_customers'
  exclusivity_group: rfm
  priority: 4
- name: rfm_promising
  description: Recent shoppers who have not spent much; build the habit.
  kind: value
  rule: rfm_segment = 'promising'
  exclusivity_group: rfm
  priority: 5
- name: rfm_need_attention
  description: Middling recency, frequency and spend; limited-time offers.
  kind: value
  rule: rfm_segment = 'need_attention'
  exclusivity_group: rfm
  priority: 6
- name: rfm_about_to_sleep
  description: Below-average recency and low frequency; reactivate before they go.
  kind: value
  rule: rfm_segment = 'about_to_sleep'
  exclusivity_group: rfm
  priority: 7
- name: rfm_at_risk
  description: Spent well and often, but a long time ago; personal win-back.
  kind: value
  rule: rfm_segment = 'at_risk'
  exclusivity_group: rfm
  priority: 8
  campaign: RFM - At risk win-back
- name: rfm_cannot_lose_them
  description: The biggest past spenders who have stopped buying; win them back at any cost.
  kind: value
  rule: rfm_segment = 'cannot_lose_them'
  exclusivity_group: rfm
  priority: 9
  campaign: RFM - Cannot lose them
- name: rfm_hibernating
  description: Long since their last order, low frequency and spend.
  kind: value
  rule: rfm_segment = 'hibernating'
  exclusivity_group: rfm
  priority: 10
- name: rfm_lost
  description: Lowest recency, frequency and spend; only low-cost reactivation.
  kind: value
  rule: rfm_segment = 'lost'
  exclusivity_group: rfm
  priority: 11
# --- value: spend
- name: top_spenders
  description: The top fifth of buyers by lifetime value (RFM monetary score 5).
  kind: value
  rule: rfm_monetary_score = 5
- name: high_basket_buyers
  description: Average order of 150 (reporting currency) or more; premium ranges.
  kind: value
  rule: average_order_value >= 150
# --- lifecycle (customer_lifecycle): exactly one stage each
- name: lifecycle_lead
  description: Known to us but has never ordered; convert them.
  kind: lifecycle
  rule: lifecycle_stage = 'lead'
  exclusivity_group: lifecycle
  priority: 1
- name: lifecycle_new
  description: First order within lifecycle_new_days; welcome series.
  kind: lifecycle
  rule: lifecycle_stage = 'new'
  exclusivity_group: lifecycle
  priority: 2
  campaign: Lifecycle - Welcome
- name: lifecycle_won_back
  description: Ordered again after having lapsed; keep them this time.
  kind: lifecycle
  rule: lifecycle_stage = 'won_back'
  exclusivity_group: lifecycle
  priority: 3
  campaign: Lifecycle - Welcome back
- name: lifecycle_active
  description: Ordered within lifecycle_active_days.
  kind: lifecycle
  rule: lifecycle_stage = 'active'
  exclusivity_group: lifecycle
  priority: 4
- name: lifecycle_at_risk
  description: No order for longer than lifecycle_active_days; nudge them.
  kind: lifecycle
  rule: lifecycle_stage = 'at_risk'
  exclusivity_group: lifecycle
  priority: 5
  campaign: Lifecycle - We miss you
- name: lifecycle_lapsed
  description: No order for longer than lifecycle_lapsed_days; win-back offer.
  kind: lifecycle
  rule: lifecycle_stage = 'lapsed'
  exclusivity_group: lifecycle
  priority: 6
  campaign: Lifecycle - Win-back
# --- geographic
- name: geo_united_states
  description: Lives in the United States.
  kind: geographic
  rule: country_code = 'US'
- name: geo_united_kingdom
  description: Lives in the United Kingdom.
  kind: geographic
  rule: country_code = 'GB'
- name: geo_european_union
  description: Lives in an EU country (EU promotions, EU consent rules).
  kind: geographic
  rule: >-
    country_code in ('AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR',
    'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK')
- name: geo_southern_hemisphere
  description: Seasons run the other way (summer ranges in December).
  kind: geographic
  rule: country_code in ('AU', 'NZ', 'ZA', 'AR', 'BR', 'CL')
# --- demographic
- name: age_under_30
  description: Known age under 30.
  kind: demographic
  rule: age < 30
- name: age_30_to_49
  description: Known age 30 to 49.
  kind: demographic
  rule: age between 30 and 49
- name: age_50_plus
  description: Known age 50 or more.
  kind: demographic
  rule: age >= 50
# --- behavioural
- name: cart_abandoners
  description: Have a cart with items and no order since; abandoned-cart reminder.
  kind: behavioural
  rule: has_open_cart and open_cart_value > 0
  campaign: Behaviour - Abandoned cart
- name: email_engaged
  description: Clicked an email in the engagement window and still accept email.
  kind: behavioural
  rule: email_engagement = 'engaged' and not has_opted_out_of_email
- name: email_unengaged
  description: Receive our email but never open it; sunset or re-permission.
  kind: behavioural
  rule: email_engagement = 'unengaged'
- name: browsers_never_buy
  description: Viewed at least three pages and have never ordered.
  kind: behavioural
  rule: order_count = 0 and page_views >= 3
  campaign: Behaviour - First order offer
# --- psychographic: interests from browsing and buying (customer_interests)
- name: interest_outdoor
  description: Drawn to outerwear, activewear and footwear.
  kind: psychographic
  rule: >-
    primary_interest in ('Outerwear', 'Activewear', 'Footwear')
    or secondary_interest in ('Outerwear', 'Activewear', 'Footwear')
- name: interest_knitwear_and_accessories
  description: Drawn to knitwear and accessories.
  kind: psychographic
  rule: >-
    primary_interest in ('Knitwear', 'Accessories')
    or secondary_interest in ('Knitwear', 'Accessories')
- name: interest_home
  description: Home is their main interest.
  kind: psychographic
  rule: primary_interest = 'Home'
- name: interest_beauty
  description: Beauty is their main interest.
  kind: psychographic
  rule: primary_interest = 'Beauty'
- name: interest_swimwear
  description: Swimwear is among their top two interests (sun and holiday ranges).
  kind: psychographic
  rule: primary_interest = 'Swimwear' or secondary_interest = 'Swimwear'
{% endraw %}
{%- endset -%}
{{ return(fromyaml(catalog_yaml)) }}
{%- endmacro %}
