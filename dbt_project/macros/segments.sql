{#-
    Declarative segments.

    The definitions live in models/segments/segments.yml, a YAML file a data engineer edits: the
    `segments` list in the meta of the model segment_definitions, which every segment model reads
    from dbt's graph (macro segment_catalog). Each definition is a mapping:

      name               snake_case, unique; the segment's id everywhere (history, Salesforce)
      description        what the segment is for (required)
      kind               demographic | geographic | behavioural | psychographic | lifecycle | value
      rule               a SQL boolean expression over marts.customer_segment_features (one row
                         per person); null counts as "not in the segment"; no ';'
      exclusivity_group  optional: within a group a person is in at most one segment, the matching
                         one with the lowest `priority` (1 wins over 2); priorities unique per group
      priority           integer, required with exclusivity_group and only allowed with it
      campaign           optional: the Salesforce Campaign name the segment is sent to
      channel            optional, only with campaign: email (default) | phone; the campaign's
                         channel decides whose consent counts (email opt-out, Do Not Call).
                         Segments that share a campaign must agree on its channel
      holdout_pct        optional, 0-50 (default var segment_holdout_pct): the share of members held
                         out for lift measurement, never sent
      min_size           optional, >= 0 (default var segment_min_size): a smaller segment is flagged
                         (segment_summary.is_below_min_size) and not sent

    Structural problems (duplicate name, unknown kind or key, bad holdout...) fail compilation with
    a message naming the segment. Problems only the warehouse can see (unknown column, invalid SQL,
    a rule that is not boolean) are found by crm360.segments.check_definitions, which runs every
    rule on its own; `crm360 segments check` runs it from a shell.

    Unit tests may replace the catalog with the var `segment_definitions` (same shape).
-#}
-- noqa: disable=LT02

{#- The validated definitions, with defaults filled in. Empty while dbt parses (and under sqlfluff). -#}
{% macro segment_definitions() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set raw = var('segment_definitions', none) -%}
    {%- if raw is none -%}
        {%- set raw = segment_catalog() or [] -%}
    {%- endif -%}
    {{ return(validate_segment_definitions(raw)) }}
{%- endmacro %}

{% macro _segment_fail(name, problem) -%}
    {{ exceptions.raise_compiler_error("segment '" ~ name ~ "': " ~ problem
        ~ " (definitions: models/segments/segments.yml)") }}
{%- endmacro %}

{% macro validate_segment_definitions(raw) -%}
    {%- set kinds = ['demographic', 'geographic', 'behavioural', 'psychographic', 'lifecycle', 'value'] -%}
    {%- set allowed = ['name', 'description', 'kind', 'rule', 'exclusivity_group', 'priority', 'campaign',
                       'channel', 'holdout_pct', 'min_size'] -%}
    {%- set channels = ['email', 'phone'] -%}
    {%- set snake = modules.re.compile('^[a-z][a-z0-9_]{0,62}$') -%}
    {%- if raw is string or raw is mapping or raw is not iterable -%}
        {{ exceptions.raise_compiler_error(
            "segments: the catalog (models/segments/segments.yml) must be a list of definitions") }}
    {%- endif -%}
    {%- set seen = [] -%}
    {%- set group_priorities = {} -%}
    {%- set campaign_channels = {} -%}
    {%- set definitions = [] -%}
    {%- for item in raw -%}
        {%- set label = item.get('name') if item is mapping and item.get('name') is string
            else '#' ~ loop.index -%}
        {%- if item is not mapping -%}{{ _segment_fail(label, 'a definition must be a mapping of keys') }}{%- endif -%}
        {%- for key in item if key not in allowed -%}
            {{ _segment_fail(label, "unknown key '" ~ key ~ "' (allowed: " ~ allowed | join(', ') ~ ")") }}
        {%- endfor -%}
        {%- set name = item.get('name') -%}
        {%- if name is not string or not snake.match(name) -%}
            {{ _segment_fail(label, 'name must be snake_case (a-z, 0-9, _; at most 63 characters)') }}
        {%- endif -%}
        {%- if name in seen -%}{{ _segment_fail(name, 'duplicate name: every segment needs its own') }}{%- endif -%}
        {%- do seen.append(name) -%}
        {%- if item.get('description') is not string or not item.get('description') | trim -%}
            {{ _segment_fail(name, 'description is missing') }}
        {%- endif -%}
        {%- if item.get('kind') not in kinds -%}
            {{ _segment_fail(name, "unknown kind '" ~ item.get('kind') ~ "' (one of: " ~ kinds | join(', ') ~ ")") }}
        {%- endif -%}
        {%- set rule = item.get('rule') -%}
        {%- if rule is not string or not rule | trim -%}{{ _segment_fail(name, 'rule is missing') }}{%- endif -%}
        {%- if ';' in rule -%}
            {{ _segment_fail(name, "rule must be one SQL expression: ';' is not allowed") }}
        {%- endif -%}
        {%- set group = item.get('exclusivity_group') -%}
        {%- set priority = item.get('priority') -%}
        {%- if group is not none -%}
            {%- if group is not string or not snake.match(group) -%}
                {{ _segment_fail(name, 'exclusivity_group must be a snake_case name') }}
            {%- endif -%}
            {%- if priority is not integer or priority is boolean -%}
                {{ _segment_fail(name, "priority must be an integer within exclusivity_group '"
                    ~ group ~ "' (1 wins over 2)") }}
            {%- endif -%}
            {%- set taken = group_priorities.setdefault(group, []) -%}
            {%- if priority in taken -%}
                {{ _segment_fail(name, "priority " ~ priority ~ " is already used in exclusivity_group '" ~ group ~ "'") }}
            {%- endif -%}
            {%- do taken.append(priority) -%}
        {%- elif priority is not none -%}
            {{ _segment_fail(name, 'priority only has a meaning within an exclusivity_group') }}
        {%- endif -%}
        {%- set campaign = item.get('campaign') -%}
        {%- if campaign is not none and (campaign is not string or not campaign | trim) -%}
            {{ _segment_fail(name, 'campaign must be a Salesforce Campaign name') }}
        {%- endif -%}
        {%- set channel = item.get('channel') -%}
        {%- if channel is not none and campaign is none -%}
            {{ _segment_fail(name, 'channel only has a meaning with a campaign') }}
        {%- endif -%}
        {%- if channel is not none and channel not in channels -%}
            {{ _segment_fail(name, "unknown channel '" ~ channel ~ "' (one of: " ~ channels | join(', ') ~ ")") }}
        {%- endif -%}
        {%- if campaign is not none -%}
            {%- set channel = channel or 'email' -%}
            {%- set other = campaign_channels.get(campaign | trim) -%}
            {%- if other is not none and other[1] != channel -%}
                {{ _segment_fail(name, "campaign '" ~ campaign | trim ~ "' is the " ~ other[1]
                    ~ " campaign of segment '" ~ other[0] ~ "': segments sharing a campaign need the same channel") }}
            {%- endif -%}
            {%- do campaign_channels.setdefault(campaign | trim, [name, channel]) -%}
        {%- endif -%}
        {%- set holdout = item.get('holdout_pct', var('segment_holdout_pct')) -%}
        {%- if holdout is not number or holdout is boolean or holdout < 0 or holdout > 50 -%}
            {{ _segment_fail(name, "holdout_pct must be a number from 0 to 50, not '" ~ holdout ~ "'") }}
        {%- endif -%}
        {%- set min_size = item.get('min_size', var('segment_min_size')) -%}
        {%- if min_size is not integer or min_size is boolean or min_size < 0 -%}
            {{ _segment_fail(name, "min_size must be a whole number >= 0, not '" ~ min_size ~ "'") }}
        {%- endif -%}
        {%- do definitions.append({
            'name': name, 'description': item.get('description') | trim, 'kind': item.get('kind'),
            'rule': rule | trim, 'exclusivity_group': group, 'priority': priority,
            'campaign': campaign | trim if campaign is not none else none,
            'channel': channel, 'holdout_pct': holdout, 'min_size': min_size}) -%}
    {%- endfor -%}
    {{ return(definitions) }}
{%- endmacro %}

{#- A SQL string literal. -#}
{% macro segment_literal(value) -%}
    {%- if value is none -%}null{%- else -%}'{{ value | string | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}

{#- The definitions as rows (segment_name, segment_kind, ...): a select usable as a CTE body. -#}
{% macro segment_definitions_relation(definitions) -%}
    select
        cast(segment_name as varchar) as segment_name,
        cast(segment_kind as varchar) as segment_kind,
        cast(segment_description as varchar) as segment_description,
        cast(campaign_name as varchar) as campaign_name,
        cast(campaign_channel as varchar) as campaign_channel,
        cast(exclusivity_group as varchar) as exclusivity_group,
        cast(segment_priority as integer) as segment_priority,
        cast(holdout_pct as float8) as holdout_pct,
        cast(min_size as integer) as min_size,
        cast(segment_rule as varchar) as segment_rule
    from (
        {%- if definitions | length == 0 %}
        select null, null, null, null, null, null, null, null, null, null
        where 1 = 0
        {%- else %}
        values
        {%- for d in definitions %}
        ({{ segment_literal(d.name) }}, {{ segment_literal(d.kind) }}, {{ segment_literal(d.description) }},
            {{ segment_literal(d.campaign) }}, {{ segment_literal(d.channel) }}, {{ segment_literal(d.exclusivity_group) }},
            {{ d.priority if d.priority is not none else 'null' }}, {{ d.holdout_pct }}, {{ d.min_size }},
            {{ segment_literal(d.rule) }}){{ ',' if not loop.last }}
        {%- endfor %}
        {%- endif %}
    ) as definitions (
        segment_name, segment_kind, segment_description, campaign_name, campaign_channel, exclusivity_group,
        segment_priority, holdout_pct, min_size, segment_rule
    )
{%- endmacro %}

{#- (customer_id, segment_name) for every person and segment whose rule matches, after exclusivity.
    A segment without a group is one filtered scan; an exclusivity group is one scan with a case
    over its rules in priority order, so the first matching rule wins without a window. -#}
{% macro segment_matches(definitions, features) -%}
    {%- set groups = {} -%}
    {%- set selects = [] -%}
    {%- for d in definitions -%}
        {%- if d.exclusivity_group is none -%}
            {%- do selects.append(
                "select customer_id, " ~ segment_literal(d.name) ~ " as segment_name from " ~ features
                ~ " where (\n        " ~ d.rule ~ "\n    )") -%}
        {%- else -%}
            {%- do groups.setdefault(d.exclusivity_group, []).append(d) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for group in groups | sort -%}
        {%- set whens = [] -%}
        {%- for d in groups[group] | sort(attribute='priority') -%}
            {%- do whens.append("when (\n            " ~ d.rule ~ "\n        ) then " ~ segment_literal(d.name)) -%}
        {%- endfor -%}
        {%- do selects.append(
            "select customer_id, segment_name from (\n    select customer_id, case\n        "
            ~ whens | join("\n        ") ~ "\n    end as segment_name from " ~ features
            ~ "\n) as group_" ~ group ~ " where segment_name is not null") -%}
    {%- endfor -%}
    {%- if selects | length == 0 -%}
    select cast(null as varchar) as customer_id, cast(null as varchar) as segment_name where 1 = 0
    {%- else -%}
    {{ selects | join("\n    union all\n    ") }}
    {%- endif -%}
{%- endmacro %}

{#- A person's holdout position in a segment: md5 of "segment:customer_id" mapped to [0, 100) in
    steps of 0.01. It depends on nothing but the two ids, so a person's holdout status does not
    change when the segment grows or shrinks; a different segment draws independently.
    crm360.segments.holdout_bucket() computes the same number in Python. -#}
{% macro segment_holdout_bucket(segment_name, customer_id) -%}
    {{ return(adapter.dispatch('segment_holdout_bucket', 'crm360')(segment_name, customer_id)) }}
{%- endmacro %}

{% macro default__segment_holdout_bucket(segment_name, customer_id) -%}
    (cast(('0x' || substr(md5({{ segment_name }} || ':' || {{ customer_id }}), 1, 7)) as bigint) % 10000) / 100.0
{%- endmacro %}

{% macro postgres__segment_holdout_bucket(segment_name, customer_id) -%}
    (cast(cast(('x' || substr(md5({{ segment_name }} || ':' || {{ customer_id }}), 1, 7)) as bit(28)) as bigint)
        % 10000) / 100.0
{%- endmacro %}

{#- The catalog as written in models/segments/segments.yml (the `segments` list in the meta of the
    model segment_definitions), read from dbt's graph; only called at execution time. -#}
{% macro segment_catalog() -%}
    {%- set node = (graph.get('nodes') or {}).get('model.' ~ project_name ~ '.segment_definitions') -%}
    {%- if node is none -%}
        {#- dbt unit tests see neither the graph nor model meta (dbt-core #12938) -#}
        {{ exceptions.raise_compiler_error(
            "segments: the catalog (models/segments/segments.yml) is not visible here (dbt unit tests "
            ~ "see no model config); run dbt through crm360, which passes it as the var "
            ~ "segment_definitions, or add --vars '{segment_definitions: [...]}'") }}
    {%- endif -%}
    {{ return(node.config.meta.get('segments') or []) }}
{%- endmacro %}
