"""SendGrid event-webhook events from the CRM's email campaigns.

Every day one email campaign sends to its CampaignMembers who have not opted out, at about 9-11
in each recipient's local time. Whether they open depends on their propensity and on fatigue
(how many emails they got in the last week); unsubscribes grow with fatigue; dead mailboxes
bounce once and are dropped afterwards, as are unsubscribed and spam-reporting addresses.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

import numpy as np
import pyarrow as pa

from sandbox.generator import lines
from sandbox.generator import reference as ref
from sandbox.generator.context import SimContext
from sandbox.generator.crm import EmailCampaign
from sandbox.generator.shop import product_weights
from sandbox.generator.timeutil import day_start
from sandbox.generator.web import EmailVisit
from sandbox.generator.writer import dumps

FATIGUE = 0.8  # open chance multiplier per email already received in the last 7 days
HARD_BOUNCE_REASON = "550 5.1.1 The email account that you tried to reach does not exist."


KINDS = ("dropped", "processed", "bounce", "delivered", "open", "spamreport", "click", "unsubscribe")
SLOTS = 8  # events one email can produce, in the order SendGrid reports them
DROP_REASONS = ("Bounced Address", "Unsubscribed Address", "Spam Reporting Address")
MAX_EXTRA_OPENS = 3


class MailState:
    """Per-person suppression and fatigue carried from day to day."""

    def __init__(self, n: int) -> None:
        self.unsubscribed = np.zeros(n, dtype=bool)
        self.bounced = np.zeros(n, dtype=bool)
        self.spam = np.zeros(n, dtype=bool)
        self.recent: deque[np.ndarray] = deque(maxlen=7)
        self.email_json: pa.Array | None = None  # per person: the send address as a JSON string

    def last_week(self) -> np.ndarray:
        if not self.recent:
            return np.zeros_like(self.unsubscribed, dtype=np.int64)
        return np.sum(np.stack(list(self.recent)), axis=0)


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def _campaign_fields(campaign: EmailCampaign) -> str:
    """The fields every event of the campaign carries, as JSON members (no braces)."""
    return dumps({"category": [campaign.category, "marketing"], "marketing_campaign_id": campaign.marketing_campaign_id,
                  "marketing_campaign_name": campaign.name})[1:-1]


def _choose_products(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One product per row of ``weights`` (rows are probabilities)."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(weights))[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative < u).sum(axis=1), weights.shape[1] - 1)


def simulate_mail(
    ctx: SimContext,
    state: MailState,
    rng: np.random.Generator,
    day: dt.date,
    day_index: int,
    midnights: np.ndarray,
) -> list[EmailVisit]:
    """Queue the day's SendGrid events; return the click-throughs that open a shop session.

    Every recipient's events are drawn at once, column by column: a row per email, a slot per
    event it can produce (processed or dropped, delivered or bounce, up to four opens or a spam
    report, a click, an unsubscribe)."""
    p, crm = ctx.persons, ctx.crm
    sent_today = np.zeros(p.n, dtype=np.int64)
    campaigns = crm.email_campaigns
    visits: list[EmailVisit] = []
    if not campaigns:
        state.recent.append(sent_today)
        return visits
    campaign = campaigns[day_index % len(campaigns)]
    if state.email_json is None:
        state.email_json = lines.json_values(crm.send_email)
    has_email = np.array([e is not None for e in crm.send_email], dtype=bool)
    known = p.first_seen < day_start(day)  # people the CRM meets later get no email yet
    recipients = np.flatnonzero(crm.membership[:, day_index % len(campaigns)] & has_email & ~crm.crm_opt_out & known)
    m = len(recipients)
    if m == 0:
        state.recent.append(sent_today)
        return visits
    r = recipients
    fatigue = state.last_week()[r]
    propensity = p.email_propensity[r]
    send = midnights[ctx.person_tz[r], day_index] + 9 * 3_600 + rng.integers(0, 2 * 3_600, size=m)
    message_id = lines.random_hex(rng, m, 11)
    smtp_id = lines.random_hex(rng, m, 10)
    bounced, unsubscribed, spammed = state.bounced[r], state.unsubscribed[r], state.spam[r]
    live = ~(bounced | unsubscribed | spammed)
    reason = np.where(bounced, 0, np.where(unsubscribed, 1, 2))
    delivered_at = send + rng.integers(2, 90, size=m)
    bounce = live & p.email_bad[r]
    delivered = live & ~p.email_bad[r]
    opened = delivered & (rng.random(m) < propensity * FATIGUE**fatigue)
    spam = delivered & ~opened & (rng.random(m) < 0.0008)
    spam_at = delivered_at + rng.integers(600, 86_400, size=m)
    first_open = delivered_at + np.minimum(np.exp(rng.normal(np.log(5_400), 1.2, size=m)), 3 * 86_400).astype(np.int64)
    extra_opens = np.minimum(rng.geometric(0.6, size=m) - 1, MAX_EXTRA_OPENS)
    open_at = first_open[:, None] + np.concatenate(
        [np.zeros((m, 1), dtype=np.int64), np.cumsum(rng.integers(60, 6 * 3_600, size=(m, MAX_EXTRA_OPENS)), axis=1)],
        axis=1)
    last_open = open_at[np.arange(m), extra_opens]
    clicked = opened & (rng.random(m) < 0.15 + 0.35 * propensity)
    click_at = last_open + rng.integers(3, 300, size=m)
    visit = clicked & (rng.random(m) < 0.7)
    unsubscribe = opened & (rng.random(m) < 0.004 + 0.01 * fatigue * (1 - propensity))
    unsubscribe_at = last_open + rng.integers(10, 600, size=m)
    product = np.zeros(m, dtype=np.int64)
    click_rows = np.flatnonzero(clicked)
    if len(click_rows):
        product[click_rows] = _choose_products(rng, product_weights(ctx, r[click_rows], day))

    # One row per event: (email row, slot, kind, time).
    parts: list[tuple[np.ndarray, int, int, np.ndarray]] = [
        (np.flatnonzero(~live), 0, 0, send), (np.flatnonzero(live), 0, 1, send),
        (np.flatnonzero(bounce), 1, 2, delivered_at), (np.flatnonzero(delivered), 1, 3, delivered_at),
        (np.flatnonzero(spam), 2, 5, spam_at), (click_rows, 6, 6, click_at),
        (np.flatnonzero(unsubscribe), 7, 7, unsubscribe_at),
    ]
    for k in range(MAX_EXTRA_OPENS + 1):
        rows_k = np.flatnonzero(opened & (extra_opens >= k))
        parts.append((rows_k, 2 + k, 4, open_at[:, k]))
    row = np.concatenate([rows for rows, _, _, _ in parts])
    slot = np.concatenate([np.full(len(rows), s, dtype=np.int64) for rows, s, _, _ in parts])
    kind = np.concatenate([np.full(len(rows), k, dtype=np.int64) for rows, _, k, _ in parts])
    when = np.concatenate([t[rows] for rows, _, _, t in parts]).astype(np.int64)
    order = np.argsort(row * SLOTS + slot, kind="stable")
    row, slot, kind, when = row[order], slot[order], kind[order], when[order]
    n_events = len(row)
    event_id = lines.random_b64(rng, n_events)
    people = r[row]
    arrival, lateness = ctx.arrivals(rng, when)

    head = lines.join('{"email":', lines.choose(state.email_json, people), ',"timestamp":', lines.ints(when),
                      ',"event":"')
    common = lines.join('","sg_event_id":"', event_id, '","sg_message_id":"', lines.choose(message_id, row),
                        '.filterdrecv-5g.0",' + _campaign_fields(campaign))
    kind_name = lines.choose(pa.array([k.encode() for k in KINDS], lines.LINE), kind)
    smtp = lines.join(',"smtp-id":"<', lines.choose(smtp_id, row), '@ismtpd0005p1lon1.sendgrid.net>"')
    ip = lines.choose(ctx.ip_json(), people * 2)
    mail_agents = lines.json_values(ref.USER_AGENTS_MAIL)
    device_agents = ctx.agent_json()
    slug = _slug(campaign.name)
    urls = [f"https://{ref.SHOP_DOMAIN}/products/{h}?utm_source=sendgrid&utm_medium=email&utm_campaign={slug}"
            for h in ctx.catalog.handles]
    url_json = lines.json_values(urls)
    empty = lines.literal("", n_events)
    extras = {
        0: lines.join(',"reason":', lines.choose(lines.json_values(DROP_REASONS), reason[row])),
        1: smtp,
        2: lines.literal(',"type":"bounce","status":"5.1.1","reason":' + dumps(HARD_BOUNCE_REASON)
                         + ',"bounce_classification":"Invalid Address"', n_events),
        3: lines.join(',"response":"250 OK"', smtp),
        4: lines.join(',"useragent":', lines.choose(mail_agents, people % len(ref.USER_AGENTS_MAIL)), ',"ip":', ip,
                      ',"sg_machine_open":false'),
        6: lines.join(',"url":', lines.choose(url_json, product[row]), ',"url_offset":{"index":0,"type":"html"}',
                      ',"useragent":', lines.choose(device_agents, people * 2), ',"ip":', ip),
    }
    tail = empty
    for code, text in extras.items():
        tail = lines.pick(kind == code, text, tail)
    batch = lines.join(head, kind_name, common, tail, "}")
    kept = ctx.emit_batch("sendgrid", arrival, when.astype(np.float64), batch, lateness)

    landed_people = people[kept]
    _, first = np.unique(landed_people, return_index=True)
    newcomers = landed_people[np.sort(first)]
    ctx.record_identities("sendgrid_email", newcomers, [crm.send_email[i] or "" for i in newcomers.tolist()])

    state.bounced[r[bounce]] = True
    state.spam[r[spam]] = True
    state.unsubscribed[r[unsubscribe]] = True
    sent_today[r] = live
    state.recent.append(sent_today)
    for k in np.flatnonzero(visit)[np.argsort(click_at[visit], kind="stable")].tolist():
        visits.append(EmailVisit(int(r[k]), int(click_at[k]), urls[int(product[k])], int(product[k]), campaign.name))
    return visits
