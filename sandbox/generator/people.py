"""The people of the synthetic company: who they are (ground truth) and how they behave.

Attributes are drawn column by column with numpy so a million people take seconds. Behaviour is
latent and only visible through the channels: a purchase rate and a dropout probability
(buy-till-you-die), a heavy-tailed order value, category affinities, an email engagement
propensity and a browsing rate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from sandbox.generator import reference as ref
from sandbox.generator.catalog import CATEGORIES
from sandbox.generator.formats import ascii_fold, e164, fill_patterns
from sandbox.generator.rng import stream
from sandbox.generator.timeutil import DAY, day_start

GENDERS = ("female", "male", "nonbinary", "unknown")
ROLE_NONE, ROLE_CONTACT, ROLE_LEAD = 0, 1, 2
ROLE_NAMES = ("none", "contact", "lead")


@dataclass
class Persons:
    """Column-oriented ground truth; index ``i`` is one person."""

    n: int
    person_id: list[str]
    household: np.ndarray
    country: np.ndarray  # index into reference.COUNTRIES
    city: np.ndarray  # index into reference.CITIES
    first_name: list[str]
    last_name: list[str]
    gender: np.ndarray  # index into GENDERS
    birth_date: list[str]
    street: list[str]
    postal_code: list[str]
    email: list[str]  # the personal address, lower case, unique
    mobile_nsn: list[str]
    landline_nsn: list[str]  # shared by a household
    email_opt_out: np.ndarray
    do_not_call: np.ndarray
    email_bad: np.ndarray  # the mailbox no longer exists: sends hard-bounce
    purchase_rate: np.ndarray  # expected orders per year while alive
    dropout_prob: np.ndarray  # chance of leaving for good after each order
    order_value_usd: np.ndarray  # median order value
    affinity: np.ndarray  # (n, categories), rows sum to 1
    email_propensity: np.ndarray  # chance of opening a fresh, unfatigued email
    web_rate: np.ndarray  # browsing sessions per year without buying
    devices: np.ndarray  # 1 or 2 browsers/phones
    crm_role: np.ndarray  # ROLE_*
    first_seen: np.ndarray  # unix seconds the CRM first met this person
    prior_orders: np.ndarray  # orders before the generated window
    alive: np.ndarray  # still a customer (mutated by the simulation)
    has_shop_account: np.ndarray
    shopify_customer_id: np.ndarray  # int64
    moved: np.ndarray  # moved house (within their city) since the CRM first met them
    previous_street: list[str]  # the address before the move (what old CRM records still say)
    previous_postal_code: list[str]

    def time_zone(self, i: int) -> str:
        return ref.CITIES[self.city[i]].time_zone

    def e164(self, i: int) -> str:
        return e164(ref.COUNTRIES[self.country[i]].calling_code, self.mobile_nsn[i])


def _pick(rng: np.random.Generator, options: tuple[str, ...], size: int) -> np.ndarray:
    return rng.integers(0, len(options), size=size)


def _city_choice(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """A city for each country index, weighted by city size."""
    out = np.empty(len(countries), dtype=np.int64)
    for ci, country in enumerate(ref.COUNTRIES):
        mask = countries == ci
        idx = [k for k, c in enumerate(ref.CITIES) if c.country == country.code]
        weights = np.array([ref.CITIES[k].weight for k in idx], dtype=float)
        out[mask] = rng.choice(idx, size=int(mask.sum()), p=weights / weights.sum())
    return out


def _unique(values: list[str]) -> list[str]:
    """Make email addresses unique by numbering repeats (``anna.weber2@...``)."""
    seen: dict[str, int] = {}
    out = []
    for value in values:
        count = seen.get(value, 0)
        if count:
            local, _, domain = value.partition("@")
            candidate = f"{local}{count + 1}@{domain}"
            while candidate in seen:
                count += 1
                candidate = f"{local}{count + 1}@{domain}"
            seen[value] = count + 1
            seen[candidate] = 1
            out.append(candidate)
        else:
            seen[value] = 1
            out.append(value)
    return out


def email_local_parts(rng: np.random.Generator, first: list[str], last: list[str]) -> list[str]:
    styles = rng.integers(0, 6, size=len(first)).tolist()
    numbers = rng.integers(1, 99, size=len(first)).tolist()
    out = []
    for f, la, style, num in zip(first, last, styles, numbers, strict=True):
        f, la = ascii_fold(f), ascii_fold(la)
        out.append(
            (f"{f}.{la}", f"{f}{la}", f"{f[:1]}.{la}", f"{f}_{la}", f"{f}.{la}{num}", f"{f}{la[:1]}{num}")[style]
        )
    return out


NEW_SHARE_PER_DAY = 0.002  # people the CRM first meets on each generated day (at most 30% in all)
MOVED_SHARE = 0.06


def generate_persons(n: int, first_day: dt.date, seed: int, days: int = 1) -> Persons:
    """``n`` people whose CRM history starts within the year before ``first_day``, or (a few per
    day) during the ``days`` generated days."""
    if n < 1:
        raise ValueError(f"need at least one customer, got {n}")
    rng = stream(seed, "people")
    # Households: about one person in five lives with the previous one.
    new_household = rng.random(n) >= 0.18
    new_household[0] = True
    household = np.cumsum(new_household) - 1
    n_households = int(household[-1]) + 1

    shares = np.array([c.share for c in ref.COUNTRIES])
    hh_country = rng.choice(len(ref.COUNTRIES), size=n_households, p=shares / shares.sum())
    hh_city = _city_choice(rng, hh_country)
    hh_street_no = rng.integers(1, 240, size=n_households).tolist()
    hh_street = rng.random(n_households)
    hh_streets = []
    for c, no, u in zip(hh_country.tolist(), hh_street_no, hh_street.tolist(), strict=True):
        code = ref.COUNTRIES[c].code
        names = ref.STREETS[code]
        name = names[int(u * len(names))]
        hh_streets.append(f"{no} {name}" if ref.STREET_NUMBER_FIRST[code] else f"{name} {no}")
    hh_postal = fill_patterns(rng, [ref.CITIES[c].postal for c in hh_city.tolist()])
    hh_landline = fill_patterns(rng, [ref.CITIES[c].landline for c in hh_city.tolist()])
    hh_last_u = rng.random(n_households)

    country = hh_country[household]
    city = hh_city[household]
    codes = [ref.COUNTRIES[c].code for c in country.tolist()]

    gender = rng.choice(len(GENDERS), size=n, p=[0.48, 0.47, 0.01, 0.04])
    female_list = (gender == 0) | ((gender >= 2) & (rng.random(n) < 0.5))
    u_first = rng.random(n).tolist()
    own_last = rng.random(n) < 0.12
    u_last = np.where(own_last, rng.random(n), hh_last_u[household]).tolist()
    first_name = []
    for code, fem, u in zip(codes, female_list.tolist(), u_first, strict=True):
        names = (ref.FEMALE_FIRST if fem else ref.MALE_FIRST)[code]
        first_name.append(names[int(u * len(names))])
    last_name = []
    for code, u in zip(codes, u_last, strict=True):
        names = ref.LAST_NAMES[code]
        last_name.append(names[int(u * len(names))])

    age_days = (np.clip(rng.normal(42, 14, size=n), 18, 88) * 365.25).astype(np.int64)
    birth_ord = first_day.toordinal() - age_days - rng.integers(0, 365, size=n)
    birth_date = [dt.date.fromordinal(int(o)).isoformat() for o in birth_ord.tolist()]

    domains = rng.integers(0, len(ref.CONSUMER_DOMAINS), size=n).tolist()
    locals_ = email_local_parts(rng, first_name, last_name)
    email = _unique([f"{lp}@{ref.CONSUMER_DOMAINS[d]}" for lp, d in zip(locals_, domains, strict=True)])

    mobile_patterns = []
    mobile_u = rng.random(n).tolist()
    for code, c, u in zip(codes, city.tolist(), mobile_u, strict=True):
        options = ref.MOBILE_PATTERNS[code]
        mobile_patterns.append(ref.CITIES[c].landline if not options else options[int(u * len(options))])
    mobile_nsn = fill_patterns(rng, mobile_patterns)

    # Behaviour. A quarter of people never buy; buyers' rates are gamma-distributed (NBD).
    buyer = rng.random(n) < 0.75
    purchase_rate = np.where(buyer, rng.gamma(0.9, 6.0, size=n), 0.0)
    dropout_prob = rng.beta(1.5, 8.0, size=n)
    order_value_usd = np.exp(rng.normal(np.log(70.0), 0.6, size=n))
    affinity = rng.dirichlet(np.full(len(CATEGORIES), 0.6), size=n)
    email_propensity = rng.beta(2.0, 5.0, size=n)
    web_rate = purchase_rate * 2.0 + rng.gamma(1.0, 6.0, size=n)
    devices = 1 + (rng.random(n) < 0.45).astype(np.int64)

    crm_role = rng.choice(3, size=n, p=[0.05, 0.70, 0.25])
    start = day_start(first_day)
    first_seen = start - rng.integers(DAY, 365 * DAY, size=n)
    # Drawn from their own stream so the rest of the company does not shift with --days.
    extra = stream(seed, "people-extra")
    new = extra.random(n) < min(0.3, NEW_SHARE_PER_DAY * days)
    first_seen = np.where(new, start + extra.integers(0, days * DAY, size=n), first_seen)
    moved = extra.random(n) < MOVED_SHARE
    previous_street = []
    for c, u, v in zip(country.tolist(), extra.random(n).tolist(), extra.random(n).tolist(), strict=True):
        code = ref.COUNTRIES[c].code
        name, no = ref.STREETS[code][int(v * len(ref.STREETS[code]))], 1 + int(u * 240)
        previous_street.append(f"{no} {name}" if ref.STREET_NUMBER_FIRST[code] else f"{name} {no}")
    previous_postal = fill_patterns(extra, [ref.CITIES[c].postal for c in city.tolist()])

    # History before the window: orders so far, and whether the customer is still alive.
    tenure_years = np.maximum(start - first_seen, 0) / (365.0 * DAY) + rng.gamma(1.0, 1.0, size=n)
    potential = rng.poisson(purchase_rate * tenure_years)
    orders_until_dropout = rng.geometric(np.clip(dropout_prob, 1e-6, 1.0))
    prior_orders = np.minimum(potential, orders_until_dropout)
    alive = orders_until_dropout > potential
    has_shop_account = (prior_orders > 0) | (rng.random(n) < 0.15)
    shopify_customer_id = (
        6_901_200_000_000 + rng.permutation(n).astype(np.int64) * 97 + rng.integers(0, 97, size=n)
    )

    return Persons(
        n=n,
        person_id=[f"P{i + 1:07d}" for i in range(n)],
        household=household,
        country=country,
        city=city,
        first_name=first_name,
        last_name=last_name,
        gender=gender,
        birth_date=birth_date,
        street=[hh_streets[h] for h in household.tolist()],
        postal_code=[hh_postal[h] for h in household.tolist()],
        email=email,
        mobile_nsn=mobile_nsn,
        landline_nsn=[hh_landline[h] for h in household.tolist()],
        email_opt_out=rng.random(n) < 0.05,
        do_not_call=rng.random(n) < 0.10,
        email_bad=rng.random(n) < 0.02,
        purchase_rate=purchase_rate,
        dropout_prob=dropout_prob,
        order_value_usd=order_value_usd,
        affinity=affinity,
        email_propensity=email_propensity,
        web_rate=web_rate,
        devices=devices,
        crm_role=crm_role,
        first_seen=first_seen,
        prior_orders=prior_orders,
        alive=alive,
        has_shop_account=has_shop_account,
        shopify_customer_id=shopify_customer_id,
        moved=moved,
        previous_street=previous_street,
        previous_postal_code=previous_postal,
    )
