"""SendGrid event-webhook events from the CRM's email campaigns.

Every day one email campaign sends to its CampaignMembers who have not opted out, at about 9-11
in each recipient's local time. Whether they open depends on their propensity and on fatigue
(how many emails they got in the last week); unsubscribes grow with fatigue; dead mailboxes
bounce once and are dropped afterwards, as are unsubscribed and spam-reporting addresses.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.context import SimContext
from sandbox.generator.crm import EmailCampaign
from sandbox.generator.ids import stable_hex
from sandbox.generator.shop import product_weights
from sandbox.generator.timeutil import day_start
from sandbox.generator.web import EmailVisit

FATIGUE = 0.8  # open chance multiplier per email already received in the last 7 days
HARD_BOUNCE_REASON = "550 5.1.1 The email account that you tried to reach does not exist."


class MailState:
    """Per-person suppression and fatigue carried from day to day."""

    def __init__(self, n: int) -> None:
        self.unsubscribed = np.zeros(n, dtype=bool)
        self.bounced = np.zeros(n, dtype=bool)
        self.spam = np.zeros(n, dtype=bool)
        self.recent: deque[np.ndarray] = deque(maxlen=7)

    def last_week(self) -> np.ndarray:
        if not self.recent:
            return np.zeros_like(self.unsubscribed, dtype=np.int64)
        return np.sum(np.stack(list(self.recent)), axis=0)


def _slug(name: str) -> str:
    return "-".join(name.lower().split())


def _recipient_events(
    ctx: SimContext,
    state: MailState,
    rng: np.random.Generator,
    i: int,
    send: int,
    campaign: EmailCampaign,
    fatigue: int,
    weights: np.ndarray,
    visits: list[EmailVisit],
) -> list[tuple[int, dict[str, Any]]]:
    """Everything SendGrid reports about one email to person ``i`` sent at ``send``."""
    p = ctx.persons
    email = ctx.crm.send_email[i]
    assert email is not None
    message_id = f"{stable_hex(ctx.seed, 'sgm', ctx.next('sg_message'), size=11)}.filterdrecv-5g.0"
    base = {"sg_message_id": message_id, "category": [campaign.category, "marketing"],
            "marketing_campaign_id": campaign.marketing_campaign_id,
            "marketing_campaign_name": campaign.name}
    events: list[tuple[int, dict[str, Any]]] = []

    def event(kind: str, t: int, **extra: Any) -> None:
        events.append((t, {"email": email, "timestamp": t, "event": kind, "sg_event_id": ctx.sg_event_id(),
                           **base, **extra}))

    if state.unsubscribed[i] or state.bounced[i] or state.spam[i]:
        reason = ("Bounced Address" if state.bounced[i] else
                  "Unsubscribed Address" if state.unsubscribed[i] else "Spam Reporting Address")
        event("dropped", send, reason=reason)
        return events
    smtp_id = f"<{stable_hex(ctx.seed, 'smtp', message_id, size=10)}@ismtpd0005p1lon1.sendgrid.net>"
    event("processed", send, **{"smtp-id": smtp_id})
    delivered_at = send + int(rng.integers(2, 90))
    if p.email_bad[i]:
        event("bounce", delivered_at, type="bounce", status="5.1.1", reason=HARD_BOUNCE_REASON,
              bounce_classification="Invalid Address")
        state.bounced[i] = True
        return events
    event("delivered", delivered_at, response="250 OK", **{"smtp-id": smtp_id})
    propensity = float(p.email_propensity[i])
    if rng.random() >= propensity * FATIGUE**fatigue:
        if rng.random() < 0.0008:
            event("spamreport", delivered_at + int(rng.integers(600, 86_400)))
            state.spam[i] = True
        return events
    t = delivered_at + int(min(np.exp(rng.normal(np.log(5_400), 1.2)), 3 * 86_400))
    agent = ref.USER_AGENTS_MAIL[i % len(ref.USER_AGENTS_MAIL)]
    ip = ctx.device_ip(i, 0)
    event("open", t, useragent=agent, ip=ip, sg_machine_open=False)
    for _ in range(min(int(rng.geometric(0.6)) - 1, 3)):
        t += int(rng.integers(60, 6 * 3_600))
        event("open", t, useragent=agent, ip=ip, sg_machine_open=False)
    if rng.random() < 0.15 + 0.35 * propensity:
        product = int(rng.choice(ctx.catalog.size, p=weights))
        url = (f"https://{ref.SHOP_DOMAIN}/products/{ctx.catalog.handles[product]}"
               f"?utm_source=sendgrid&utm_medium=email&utm_campaign={_slug(campaign.name)}")
        t_click = t + int(rng.integers(3, 300))
        event("click", t_click, url=url, url_offset={"index": 0, "type": "html"},
              useragent=ctx.device_agent(i, 0), ip=ip)
        if rng.random() < 0.7:
            visits.append(EmailVisit(i, t_click, url, product, campaign.name))
    if rng.random() < 0.004 + 0.01 * fatigue * (1 - propensity):
        event("unsubscribe", t + int(rng.integers(10, 600)))
        state.unsubscribed[i] = True
    return events


def simulate_mail(
    ctx: SimContext,
    state: MailState,
    rng: np.random.Generator,
    day: dt.date,
    day_index: int,
    midnights: np.ndarray,
) -> list[EmailVisit]:
    """Queue the day's SendGrid events; return the click-throughs that open a shop session."""
    p, crm = ctx.persons, ctx.crm
    sent_today = np.zeros(p.n, dtype=np.int64)
    campaigns = crm.email_campaigns
    visits: list[EmailVisit] = []
    if campaigns:
        campaign = campaigns[day_index % len(campaigns)]
        has_email = np.array([e is not None for e in crm.send_email], dtype=bool)
        known = p.first_seen < day_start(day)  # people the CRM meets later get no email yet
        recipients = np.flatnonzero(crm.membership[:, day_index % len(campaigns)] & has_email & ~crm.crm_opt_out
                                    & known)
        fatigue = state.last_week()
        weights = product_weights(ctx, recipients, day) if len(recipients) else np.zeros((0, 0))
        for row, i in enumerate(recipients.tolist()):
            send = ctx.local_midnight(midnights, i, day_index) + 9 * 3_600 + int(rng.integers(0, 2 * 3_600))
            events = _recipient_events(ctx, state, rng, i, send, campaign, int(fatigue[i]), weights[row], visits)
            sent_today[i] = int(events[0][1]["event"] == "processed")
            email = crm.send_email[i]
            assert email is not None
            for t, record in events:
                arrival, lateness = ctx.arrival(rng, t)
                ctx.emit("sendgrid", arrival, t, record, lateness, i, (("sendgrid_email", email),))
    state.recent.append(sent_today)
    visits.sort(key=lambda v: v.epoch)
    return visits
