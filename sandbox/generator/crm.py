"""The company's Salesforce org: Accounts, Contacts, Leads, Campaigns, members, Opportunities, Tasks.

Records carry Salesforce field names, 18-character Ids and Salesforce timestamps. History starts
in the year before the first generated day; about 2% of Contacts and Leads are modified on each
generated day, so incremental extraction by SystemModstamp finds something every day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sandbox.generator import lines
from sandbox.generator import reference as ref
from sandbox.generator.formats import PHONE_STYLES, ascii_fold, fill_patterns, format_phone, mixed_case_email, typo
from sandbox.generator.ids import sf_id, sf_id_list, sf_ids
from sandbox.generator.options import Options
from sandbox.generator.people import ROLE_CONTACT, ROLE_LEAD, Persons
from sandbox.generator.rng import stream
from sandbox.generator.timeutil import DAY, day_start, sf_date, sf_timestamp
from sandbox.generator.writer import NdjsonWriter
from sandbox.salesforce.state import PROFILE_ID as INTEGRATION_PROFILE_ID

OBJECTS = ("User", "Account", "Contact", "Lead", "Campaign", "CampaignMember", "Opportunity", "Task")
MODIFIED_SHARE_PER_DAY = 0.02  # Contacts/Leads updated per generated day (less on long runs: at most half in all)
CONVERT_SHARE_PER_DAY = 0.01  # Leads converted into Contacts per generated day
DEDUPE_SHARE_PER_DAY = 0.05  # duplicate Contacts merged, duplicate Leads deleted, per generated day
# Identity mess (all off with identity_mess=False)
NICKNAME_SHARE = 0.10  # records giving a nickname instead of the first name (when there is one)
TYPO_SHARE = 0.02  # records with a mistyped first name
DUPLICATE_TYPO_SHARE = 0.30  # duplicate Leads with a mistyped first name
PLACEHOLDER_PHONE_SHARE = 0.004  # Contacts with 0000000000 and the like as Phone
PLACEHOLDER_LEAD_SHARE = 0.005  # open Leads whose email, phone (and name) are placeholders
HOUSEHOLD_SHARED_SHARE = 0.002  # couples whose Contacts share one personal address, per person
GENDER_IDENTITY = ("Female", "Male", "Nonbinary", None)
OFFICE_INBOX_CASES = 2


@dataclass(frozen=True)
class EmailCampaign:
    sf_id: str
    name: str
    marketing_campaign_id: int
    category: str


@dataclass
class CrmResult:
    counts: dict[str, int]
    # Per person: the address the CRM sends to (stripped, case as typed), or None.
    send_email: list[str | None]
    crm_opt_out: np.ndarray
    email_campaigns: list[EmailCampaign]
    membership: np.ndarray  # (persons, email campaigns) bool
    office_inboxes: list[tuple[str, list[str]]] = field(default_factory=list)  # (email, person ids)
    # Every address the CRM holds for more than one person: (email, kind, person ids), kind is
    # role (info@, sales@), household or placeholder.
    shared_emails: list[tuple[str, str, list[str]]] = field(default_factory=list)


def _stamps(rng: np.random.Generator, created: np.ndarray, start: int, window: list[int],
            share: float) -> tuple[np.ndarray, np.ndarray]:
    """(SystemModstamp, the stamp before the window) of records created at ``created``.

    A record created before ``start`` was last modified some time before it, and a disjoint
    ``share`` of records is modified again on each window day. A record created during the window
    has its creation as the earlier version. Where the two stamps differ, the record changed
    during the window and both versions go to the history.
    """
    m = len(created)
    span = np.maximum(start - created, 1)
    prior = np.where(created >= start, created, created + (span * rng.random(m) ** 2).astype(np.int64))
    stamp = prior.copy()
    if m == 0 or not window:
        return stamp, prior
    block = max(1, math.ceil(share * m))
    order = rng.permutation(m)
    for j, day0 in enumerate(window):
        idx = order[(j * block + np.arange(block)) % m]
        stamp[idx] = day0 + rng.integers(0, DAY, size=block)
    return np.maximum(stamp, prior), prior


def _audit(created: int, stamp: int) -> dict[str, object]:
    return {
        "IsDeleted": False,
        "CreatedDate": sf_timestamp(created),
        "LastModifiedDate": sf_timestamp(stamp),
        "SystemModstamp": sf_timestamp(stamp),
    }


def _slug(name: str) -> str:
    return "-".join(ascii_fold(w) for w in name.split() if ascii_fold(w))


def _messy_crm_email(email: str, u: float, style: int) -> str:
    """About 10% of CRM addresses are typed with capitals (Salesforce rejects surrounding blanks, so
    those appear in the shop's copy instead)."""
    return mixed_case_email(email, style) if u < 0.10 else email


def _other_case(email: str) -> str:
    """The same address typed with different capitalisation than ``email``."""
    stripped = email.strip()
    if stripped != stripped.lower():
        return stripped.lower()
    return mixed_case_email(stripped, 0) if "." in stripped.split("@")[0] else stripped.upper()


def build_crm(
    persons: Persons,
    first_day: dt.date,
    window_days: list[dt.date],
    seed: int,
    crm_dir: Path,
    identity: Callable[[str, str, str], None],
    options: Options | None = None,
) -> CrmResult:
    """Write ``<crm_dir>/<Object>.ndjson`` and report each person-level record to ``identity``."""
    rng = stream(seed, "crm")
    mess = (options or Options()).identity_mess
    modified_share = min(MODIFIED_SHARE_PER_DAY, 0.5 / max(len(window_days), 1))
    n = persons.n
    start = day_start(first_day)
    window = [day_start(d) for d in window_days]
    countries = [ref.COUNTRIES[c] for c in range(len(ref.COUNTRIES))]

    # --- companies -------------------------------------------------------------------------
    n_comp = min(400, max(8, n // 7))
    shares = np.array([c.share for c in countries])
    comp_country = rng.choice(len(countries), size=n_comp, p=shares / shares.sum())
    comp_city = np.empty(n_comp, dtype=np.int64)
    for ci, country in enumerate(countries):
        mask = comp_country == ci
        idx = [k for k, c in enumerate(ref.CITIES) if c.country == country.code]
        comp_city[mask] = rng.choice(idx, size=int(mask.sum()))
    comp_names, comp_domains, seen = [], [], set()
    wa = rng.integers(0, len(ref.COMPANY_WORDS_A), size=n_comp).tolist()
    wb = rng.integers(0, len(ref.COMPANY_WORDS_B), size=n_comp).tolist()
    sx = rng.integers(0, 3, size=n_comp).tolist()
    for k in range(n_comp):
        base = f"{ref.COMPANY_WORDS_A[wa[k]]} {ref.COMPANY_WORDS_B[wb[k]]}"
        city = ref.CITIES[comp_city[k]]
        if base in seen:
            base = f"{base} {city.name}"
        number = 2
        unique = base
        while unique in seen:
            unique = f"{base} {number}"
            number += 1
        seen.add(unique)
        comp_names.append(f"{unique} {ref.COMPANY_SUFFIX[city.country][sx[k]]}")
        comp_domains.append(f"{_slug(unique)}.example")
    comp_created = start - rng.integers(200 * DAY, 730 * DAY, size=n_comp)

    # --- who is a Contact, where they work, which Account holds them -------------------------
    contact_people = np.flatnonzero(persons.crm_role == ROLE_CONTACT)
    lead_people = np.flatnonzero(persons.crm_role == ROLE_LEAD)
    employer = np.full(n, -1, dtype=np.int64)
    employed_mask = rng.random(len(contact_people)) < 0.35
    for ci in range(len(countries)):
        companies_here = np.flatnonzero(comp_country == ci)
        if len(companies_here) == 0:
            continue
        sel = contact_people[employed_mask & (persons.country[contact_people] == ci)]
        employer[sel] = companies_here[rng.integers(0, len(companies_here), size=len(sel))]

    personal = persons.email
    crm_email = list(personal)
    employed = np.flatnonzero(employer >= 0)
    work_email = employed[rng.random(len(employed)) < 0.30]
    used = set(personal)
    for i in work_email.tolist():
        local = f"{ascii_fold(persons.first_name[i])}.{ascii_fold(persons.last_name[i])}"
        candidate, k = f"{local}@{comp_domains[employer[i]]}", 2
        while candidate in used:
            candidate, k = f"{local}{k}@{comp_domains[employer[i]]}", k + 1
        used.add(candidate)
        crm_email[i] = candidate

    # Shared addresses (only with identity mess). Role mailboxes: two colleagues whose CRM records
    # hold the company's info@/sales@/... address. Households: a partner's Contact carries the other
    # partner's personal address. Both must not merge different people.
    mess_rng = stream(seed, "crm-mess")
    office: list[tuple[str, list[str]]] = []
    shared: list[tuple[str, str, list[str]]] = []
    cases = max(OFFICE_INBOX_CASES, n // 1_000) if mess else 0
    if cases and len(employed) >= 2 * cases:
        picks = rng.choice(employed, size=2 * cases, replace=False)
        for c, (a, b) in enumerate(picks.reshape(-1, 2).tolist()):
            employer[b] = employer[a]
            inbox = f"{ref.ROLE_MAILBOXES[c % len(ref.ROLE_MAILBOXES)]}@{comp_domains[employer[a]]}"
            crm_email[a] = crm_email[b] = inbox
            office.append((inbox, [persons.person_id[a], persons.person_id[b]]))
            shared.append((inbox, "role", [persons.person_id[a], persons.person_id[b]]))
    office_people = {p for _, ids in office for p in ids}
    if mess:
        at_home = contact_people[(employer[contact_people] < 0)]
        by_household: dict[int, list[int]] = {}
        for i in at_home.tolist():
            if persons.person_id[i] not in office_people:
                by_household.setdefault(int(persons.household[i]), []).append(i)
        couples = [members[:2] for members in by_household.values() if len(members) >= 2]
        wanted = min(len(couples), max(1, round(n * HOUSEHOLD_SHARED_SHARE)))
        for c in sorted(mess_rng.choice(len(couples), size=wanted, replace=False).tolist()) if couples else []:
            a, b = couples[c]
            crm_email[b] = crm_email[a]
            shared.append((crm_email[a], "household", [persons.person_id[a], persons.person_id[b]]))
    shared_people = {p for _, _, ids in shared for p in ids}

    # About 1% of Contact people have a second Contact (e.g. at work and at home).
    dup_contact = contact_people[rng.random(len(contact_people)) < 0.01]

    # What happens during the generated days: Leads converted into new Contacts, duplicate Contacts
    # merged into the person's first Contact, duplicate Leads deleted. Each at a moment in the window.
    delta = stream(seed, "crm-delta")
    end = window[-1] + DAY if window else start
    days_n = len(window)

    def moment_after(t: int) -> int | None:
        at = max(t + 3_600, start) + int(delta.integers(0, max(days_n, 1) * DAY))
        return at if at < end else None

    convert_at: dict[int, int] = {}
    for i in lead_people[delta.random(len(lead_people)) < min(0.3, CONVERT_SHARE_PER_DAY * days_n)].tolist():
        at = moment_after(int(persons.first_seen[i]))
        if at is not None and days_n:
            convert_at[i] = at
    fix_share = min(0.5, DEDUPE_SHARE_PER_DAY * days_n)

    needs_household = (set(contact_people[employer[contact_people] < 0].tolist()) | set(dup_contact.tolist())
                       | set(convert_at))
    households = sorted({int(persons.household[i]) for i in needs_household})
    household_first = {}
    for i in sorted(needs_household):
        household_first.setdefault(int(persons.household[i]), i)

    account_ids = sf_id_list("Account", n_comp + len(households))
    household_account = {h: account_ids[n_comp + k] for k, h in enumerate(households)}

    counts: dict[str, int] = {}
    w = {obj: NdjsonWriter(crm_dir / f"{obj}.ndjson") for obj in OBJECTS}
    history = {obj: NdjsonWriter(crm_dir / "history" / f"{obj}.ndjson.gz") for obj in OBJECTS}

    def put(obj: str, record: dict[str, Any], created: int, stamp: int, prior: int,
            before: dict[str, Any] | None = None) -> None:
        """Write the final ``record``; if it changed during the window, also its versions to history:
        the one before (``before`` overrides, stamped ``prior``) and the final one."""
        w[obj].write(record)
        if stamp >= start:
            if prior < stamp:
                history[obj].write({**record, **(before or {}), **_audit(created, prior)})
            history[obj].write(record)

    def name_as_typed(i: int, u: float, v: int) -> str:
        first = persons.first_name[i]
        if mess and u < NICKNAME_SHARE and first in ref.NICKNAMES:
            return ref.NICKNAMES[first]
        if mess and u > 1 - TYPO_SHARE:
            return typo(first, v)
        return first

    # --- Users: the customer-care representatives who own Contacts and Leads, by country ---------
    rep_ids = sf_id_list("User", len(ref.SALES_REPS))
    reps_by_country: dict[str, list[str]] = {}
    for k, (code, *_rest) in enumerate(ref.SALES_REPS):
        reps_by_country.setdefault(code, []).append(rep_ids[k])

    def owner_of(i: int) -> str | None:
        """The representative of person ``i``'s country (stable per person); None: the org's default."""
        reps = reps_by_country.get(ref.COUNTRIES[persons.country[i]].code)
        return reps[int(persons.household[i]) % len(reps)] if reps else None

    try:
        for k, (code, first, last, title, tz, locale) in enumerate(ref.SALES_REPS):
            login = f"{ascii_fold(first).lower()}.{ascii_fold(last).lower()}"
            joined = start - (900 - 37 * k) * DAY
            w["User"].write({
                "Id": rep_ids[k], "Username": f"{login}@care.northwind.example", "FirstName": first,
                "LastName": last, "Email": f"{login}@northwind.example", "Alias": login[:8],
                "CommunityNickname": login, "Title": title, "Department": "Customer Care",
                "Country": ref.COUNTRIES[ref.COUNTRY_INDEX[code]].name, "TimeZoneSidKey": tz,
                "LocaleSidKey": locale, "LanguageLocaleKey": "en_US", "EmailEncodingKey": "UTF-8",
                "ProfileId": INTEGRATION_PROFILE_ID, "IsActive": True, **_audit(joined, joined),
            })

        # --- Account -----------------------------------------------------------------------
        comp_stamp = _stamps(rng, comp_created, start, [], 0.0)[0]
        employees = np.exp(rng.normal(4.0, 1.4, size=n_comp)).astype(np.int64) + 2
        comp_phone = fill_patterns(rng, [ref.CITIES[c].landline for c in comp_city.tolist()])
        comp_postal = fill_patterns(rng, [ref.CITIES[c].postal for c in comp_city.tolist()])
        for k in range(n_comp):
            city = ref.CITIES[comp_city[k]]
            country = ref.COUNTRIES[comp_country[k]]
            w["Account"].write(
                {
                    "Id": account_ids[k],
                    "Name": comp_names[k],
                    "Type": ("Customer", "Prospect", "Partner")[k % 3],
                    "Industry": ref.INDUSTRIES[k % len(ref.INDUSTRIES)],
                    "Website": f"https://www.{comp_domains[k]}",
                    "Phone": format_phone(city.country, country.calling_code, comp_phone[k], 1 + k % 2),
                    "BillingStreet": f"{10 + k % 90} {ref.STREETS[city.country][k % 10]}",
                    "BillingCity": city.name,
                    "BillingState": city.state,
                    "BillingPostalCode": comp_postal[k],
                    "BillingCountry": country.name,
                    "NumberOfEmployees": int(employees[k]),
                    "AnnualRevenue": float(int(employees[k]) * 95_000),
                    **_audit(int(comp_created[k]), int(comp_stamp[k])),
                }
            )
        hh_since: dict[int, int] = {}
        for i in needs_household:
            h, since = int(persons.household[i]), convert_at.get(i, int(persons.first_seen[i]))
            hh_since[h] = min(hh_since.get(h, since), since)
        hh_created = np.array([hh_since[h] for h in households], dtype=np.int64)
        hh_stamp, hh_prior = _stamps(rng, hh_created, start, [], 0.0)
        for k, h in enumerate(households):
            i = household_first[h]
            city = ref.CITIES[persons.city[i]]
            put("Account", {
                "Id": household_account[h],
                "Name": f"{persons.last_name[i]} Household",
                "Type": "Household",
                "BillingStreet": persons.street[i],
                "BillingCity": city.name,
                "BillingState": city.state,
                "BillingPostalCode": persons.postal_code[i],
                "BillingCountry": ref.COUNTRIES[persons.country[i]].name,
                **_audit(int(hh_created[k]), int(hh_stamp[k])),
            }, int(hh_created[k]), int(hh_stamp[k]), int(hh_prior[k]))

        # --- Contact -----------------------------------------------------------------------
        contact_rows = ([(int(i), "main") for i in contact_people] + [(int(i), "dup") for i in dup_contact]
                        + [(i, "converted") for i in sorted(convert_at)])
        m = len(contact_rows)
        who = np.array([r[0] for r in contact_rows], dtype=np.int64)
        created = persons.first_seen[who].copy()
        is_dup = np.array([r[1] == "dup" for r in contact_rows], dtype=bool)
        created[is_dup] = np.maximum(np.minimum(created[is_dup] + rng.integers(DAY, 90 * DAY, size=int(is_dup.sum())),
                                                start - 1), created[is_dup] + 60)
        for k, (i, kind) in enumerate(contact_rows):
            if kind == "converted":
                created[k] = convert_at[i]
        stamp, prior = _stamps(rng, created, start, window, modified_share)
        u_mess = rng.random(m).tolist()
        style = rng.integers(0, 12, size=m).tolist()
        has_phone = (rng.random(m) < 0.6).tolist()
        has_mobile = (rng.random(m) < 0.8).tolist()
        has_birth = (rng.random(m) < 0.65).tolist()
        lead_source = rng.integers(0, len(ref.LEAD_SOURCES), size=m).tolist()
        u_name = mess_rng.random(m).tolist()
        v_name = mess_rng.integers(0, 1_000, size=m).tolist()
        u_placeholder = mess_rng.random(m).tolist()
        merged = (delta.random(m) < fix_share).tolist()
        contact_id_of: dict[int, str] = {}
        created_of: dict[int, int] = {}  # when the record in contact_id_of was created
        account_of: dict[int, str] = {}
        send_email: list[str | None] = [None] * n
        crm_opt_out = np.zeros(n, dtype=bool)
        contact_ids = sf_id_list("Contact", m)
        for k, (i, kind) in enumerate(contact_rows):
            cid = contact_ids[k]
            country = ref.COUNTRIES[persons.country[i]]
            city = ref.CITIES[persons.city[i]]
            dup = kind == "dup"
            if dup or employer[i] < 0:
                acct = household_account[int(persons.household[i])]
                email = personal[i] if dup and employer[i] >= 0 else crm_email[i]
            else:
                acct = account_ids[employer[i]]
                email = crm_email[i]
            if persons.person_id[i] not in shared_people:
                email = _messy_crm_email(email, u_mess[k], style[k]) if mess else email.lower()
            changed = bool(stamp[k] >= start and prior[k] < stamp[k])
            # A mover's record made before the move still has the old address until someone updates it.
            old_address = mess and bool(persons.moved[i]) and created[k] < start
            street, postal = persons.street[i], persons.postal_code[i]
            if old_address and not changed:
                street, postal = persons.previous_street[i], persons.previous_postal_code[i]
            mobile_style = (0 if changed else (style[k] + 1) % PHONE_STYLES) if mess else 0
            phone = None
            if has_phone[k]:
                phone = format_phone(country.code, country.calling_code, persons.landline_nsn[i],
                                     style[k] % PHONE_STYLES if mess else 0)
                if mess and u_placeholder[k] < PLACEHOLDER_PHONE_SHARE:
                    phone = ref.PLACEHOLDER_PHONES[style[k] % len(ref.PLACEHOLDER_PHONES)]
            record = {
                "Id": cid,
                "AccountId": acct,
                "FirstName": name_as_typed(i, u_name[k], v_name[k]),
                "LastName": persons.last_name[i],
                "Title": ref.TITLES[style[k] % len(ref.TITLES)] if employer[i] >= 0 and not dup else None,
                "Email": email,
                "Phone": phone,
                "MobilePhone": format_phone(country.code, country.calling_code, persons.mobile_nsn[i], mobile_style)
                if has_mobile[k] else None,
                "Birthdate": persons.birth_date[i] if has_birth[k] else None,
                "GenderIdentity": GENDER_IDENTITY[persons.gender[i]],
                "MailingStreet": street,
                "MailingCity": city.name,
                "MailingState": city.state,
                "MailingPostalCode": postal,
                "MailingCountry": country.name,
                "Time_Zone__c": city.time_zone,
                "OwnerId": owner_of(i),
                "HasOptedOutOfEmail": bool(persons.email_opt_out[i]),
                "DoNotCall": bool(persons.do_not_call[i]),
                "LeadSource": ref.LEAD_SOURCES[lead_source[k]],
                **_audit(int(created[k]), int(stamp[k])),
            }
            before: dict[str, Any] = {}
            if changed and has_mobile[k]:
                before["MobilePhone"] = format_phone(country.code, country.calling_code, persons.mobile_nsn[i],
                                                     (style[k] + 1) % PHONE_STYLES if mess else 0)
            if changed and old_address:
                before.update(MailingStreet=persons.previous_street[i],
                              MailingPostalCode=persons.previous_postal_code[i])
            if dup and merged[k] and i in contact_id_of:
                at = moment_after(int(created[k]))
                if at is not None:  # merged into the person's first Contact: the duplicate is deleted
                    record.update(IsDeleted=True, MasterRecordId=contact_id_of[i], LastModifiedDate=sf_timestamp(at),
                                  SystemModstamp=sf_timestamp(at))
                    before["MasterRecordId"] = None
                    stamp[k] = at  # the version before is the one from before the window (or its creation)
            put("Contact", record, int(created[k]), int(stamp[k]), int(prior[k]), before)
            identity("salesforce_contact", cid, persons.person_id[i])
            if kind != "dup":
                contact_id_of[i] = cid
                created_of[i] = int(created[k])
                account_of[i] = acct
                send_email[i] = email.strip()
                crm_opt_out[i] = bool(persons.email_opt_out[i])

        # --- Lead --------------------------------------------------------------------------
        dup_lead = contact_people[rng.random(len(contact_people)) < 0.05]
        converted = contact_people[rng.random(len(contact_people)) < 0.03]
        lead_rows = (
            [(int(i), "lead") for i in lead_people]
            + [(int(i), "duplicate") for i in dup_lead]
            + [(int(i), "converted") for i in converted]
        )
        m = len(lead_rows)
        who = np.array([r[0] for r in lead_rows], dtype=np.int64)
        kinds = [r[1] for r in lead_rows]
        created = persons.first_seen[who].copy()
        for k, kind in enumerate(kinds):
            if kind == "duplicate":
                created[k] = max(min(created[k] + int(rng.integers(DAY, 120 * DAY)), start - 1), created[k] + 60)
            elif kind == "converted":
                created[k] = created[k] - int(rng.integers(DAY, 60 * DAY))
        stamp, prior = _stamps(rng, created, start, window, modified_share)
        u_mess = rng.random(m).tolist()
        style = rng.integers(0, 12, size=m).tolist()
        status_u = rng.random(m).tolist()
        lead_source = rng.integers(0, len(ref.LEAD_SOURCES), size=m).tolist()
        u_name = mess_rng.random(m).tolist()
        v_name = mess_rng.integers(0, 1_000, size=m).tolist()
        open_leads = [k for k, kind in enumerate(kinds) if kind == "lead" and who[k] not in convert_at]
        n_placeholder = min(len(open_leads), max(2, round(PLACEHOLDER_LEAD_SHARE * len(open_leads)))) if mess else 0
        placeholder = set(mess_rng.choice(open_leads, size=n_placeholder, replace=False).tolist()) \
            if n_placeholder else set()
        deleted = (delta.random(m) < fix_share).tolist()
        placeholder_people: dict[str, list[str]] = {}
        lead_ids = sf_id_list("Lead", m)
        for k, (i, kind) in enumerate(lead_rows):
            lid = lead_ids[k]
            country = ref.COUNTRIES[persons.country[i]]
            city = ref.CITIES[persons.city[i]]
            company = comp_names[employer[i]] if employer[i] >= 0 else f"{persons.last_name[i]} Household"
            first_name = persons.first_name[i]
            if kind == "duplicate":
                email = _other_case(send_email[i] or crm_email[i]) if mess else (send_email[i] or crm_email[i])
                if mess and u_name[k] < DUPLICATE_TYPO_SHARE:
                    first_name = typo(first_name, v_name[k])
            elif mess:
                email = _messy_crm_email(crm_email[i], u_mess[k], style[k])
                first_name = name_as_typed(i, u_name[k], v_name[k])
            else:
                email = crm_email[i].lower()
            phone = format_phone(country.code, country.calling_code, persons.landline_nsn[i],
                                 style[k] % PHONE_STYLES if mess else 0) if kind != "lead" or style[k] < 6 else None
            if k in placeholder:  # a web form filled with whatever gets past validation
                email = ref.PLACEHOLDER_EMAILS[v_name[k] % len(ref.PLACEHOLDER_EMAILS)]
                phone = ref.PLACEHOLDER_PHONES[v_name[k] % len(ref.PLACEHOLDER_PHONES)]
                if u_name[k] < 0.5:
                    first_name = ref.PLACEHOLDER_NAMES[v_name[k] % len(ref.PLACEHOLDER_NAMES)]
                placeholder_people.setdefault(email, []).append(persons.person_id[i])
            record = {
                "Id": lid,
                "FirstName": first_name,
                "LastName": persons.last_name[i],
                "Company": company,
                "Email": email,
                "Phone": phone,
                "MobilePhone": format_phone(country.code, country.calling_code, persons.mobile_nsn[i],
                                            (style[k] + 2) % PHONE_STYLES if mess else 0),
                "Street": persons.previous_street[i] if mess and persons.moved[i] else persons.street[i],
                "City": city.name,
                "State": city.state,
                "PostalCode": persons.previous_postal_code[i] if mess and persons.moved[i] else persons.postal_code[i],
                "Country": country.name,
                "Time_Zone__c": city.time_zone,
                "OwnerId": owner_of(i),
                "Status": "Closed - Converted" if kind == "converted" else (
                    "Open - Not Contacted" if status_u[k] < 0.5 else
                    "Working - Contacted" if status_u[k] < 0.85 else "Closed - Not Converted"),
                "LeadSource": ref.LEAD_SOURCES[lead_source[k]],
                # A duplicate Lead is stale: it never received the person's opt-out.
                "HasOptedOutOfEmail": bool(persons.email_opt_out[i]) and kind != "duplicate",
                "DoNotCall": bool(persons.do_not_call[i]) and kind != "duplicate",
                "IsConverted": kind == "converted",
                "ConvertedContactId": contact_id_of[i] if kind == "converted" else None,
                "ConvertedAccountId": account_of[i] if kind == "converted" else None,
                "ConvertedDate": sf_date(persons.first_seen[i]) if kind == "converted" else None,
                **_audit(int(created[k]), int(stamp[k])),
            }
            before = {}
            at = convert_at.get(i) if kind == "lead" else None
            if kind == "converted" and created_of[i] >= start:  # its Contact was made during the window
                at = created_of[i]
            if at is not None:  # converted during the window
                before = {"Status": record["Status"] if record["Status"] != "Closed - Not Converted"
                          else "Working - Contacted", "IsConverted": False, "ConvertedContactId": None,
                          "ConvertedAccountId": None, "ConvertedDate": None}
                record.update(Status="Closed - Converted", IsConverted=True, ConvertedContactId=contact_id_of[i],
                              ConvertedAccountId=account_of[i], ConvertedDate=sf_date(at),
                              LastModifiedDate=sf_timestamp(at), SystemModstamp=sf_timestamp(at))
                prior[k], stamp[k] = min(int(prior[k]), at - 1), at
            elif kind == "duplicate" and deleted[k]:
                at = moment_after(int(created[k]))
                if at is not None:  # someone cleaned up the duplicate
                    record.update(IsDeleted=True, LastModifiedDate=sf_timestamp(at), SystemModstamp=sf_timestamp(at))
                    stamp[k] = at  # the version before is the one from before the window (or its creation)
            put("Lead", record, int(created[k]), int(stamp[k]), int(prior[k]), before)
            identity("salesforce_lead", lid, persons.person_id[i])
            if kind == "lead" and i not in convert_at:
                contact_id_of[i] = lid
                created_of[i] = int(created[k])
                if k not in placeholder:
                    send_email[i] = email.strip()
                crm_opt_out[i] = bool(persons.email_opt_out[i])
        shared += [(email, "placeholder", ids) for email, ids in sorted(placeholder_people.items())]

        # --- Campaign ----------------------------------------------------------------------
        year = first_day.year
        campaign_specs = [
            ("Welcome Series", "Email", "welcome"),
            (f"Winter Sale {year}", "Email", "promotion"),
            (f"Black Friday {year}", "Email", "promotion"),
            ("Loyalty Newsletter", "Email", "newsletter"),
            (f"Product Webinar {year}", "Webinar", None),
            (f"Trade Show {year}", "Trade Show", None),
        ]
        campaigns = []
        for k, (name, ctype, _cat) in enumerate(campaign_specs):
            created_c = start - (120 - 15 * k) * DAY
            cid = sf_id("Campaign", k)
            campaigns.append(cid)
            w["Campaign"].write(
                {
                    "Id": cid,
                    "Name": name,
                    "Type": ctype,
                    "Status": "In Progress",
                    "IsActive": True,
                    "StartDate": sf_date(created_c + 7 * DAY),
                    "EndDate": sf_date(start + 120 * DAY),
                    "BudgetedCost": float(5_000 * (k + 1)),
                    "Description": f"{ctype} campaign: {name}",
                    **_audit(created_c, created_c + 3 * DAY),
                }
            )
        email_campaigns = [
            EmailCampaign(campaigns[k], spec[0], 9_100 + k, spec[2] or "")
            for k, spec in enumerate(campaign_specs)
            if spec[1] == "Email"
        ]

        # --- CampaignMember ----------------------------------------------------------------
        has_record = np.array([contact_id_of.get(i) is not None for i in range(n)], dtype=bool)
        recent = persons.first_seen >= start - 90 * DAY
        membership = np.zeros((n, len(email_campaigns)), dtype=bool)
        for k, camp in enumerate(email_campaigns):
            share = np.where(recent, 0.9, 0.05) if camp.category == "welcome" else 0.35
            membership[:, k] = has_record & (rng.random(n) < share)
        # Written as column batches: one line per member, no dict per record.
        record_of = np.array([contact_id_of.get(i, "") for i in range(n)], dtype="S18")
        record_created = np.array([created_of.get(i, start) for i in range(n)], dtype=np.int64)
        serial = 0
        for k, camp in enumerate(email_campaigns):
            camp_start = start - (120 - 15 * k) * DAY + 7 * DAY
            members = np.flatnonzero(membership[:, k])
            created_m = np.maximum(camp_start, persons.first_seen[members]) + (members * 7919) % DAY
            created_m = np.minimum(created_m, start - 1)
            new = record_created[members] >= start  # the person's record was made during the window
            created_m = np.where(new, np.minimum(record_created[members] + 600, end - 1), created_m)
            rid = pa.array(record_of[members], lines.LINE)
            is_contact = np.char.startswith(record_of[members], b"003")
            quoted = lines.join('"', rid, '"')
            null = lines.literal("null", len(members))
            stamp_text = lines.sf_timestamps(created_m)
            batch = lines.join(
                '{"Id":"', pa.array(sf_ids("CampaignMember", serial + np.arange(len(members))), lines.LINE),
                f'","CampaignId":"{camp.sf_id}","ContactId":', lines.pick(is_contact, quoted, null),
                ',"LeadId":', lines.pick(~is_contact, quoted, null),
                ',"Status":"Sent","HasResponded":false,"IsDeleted":false,"CreatedDate":"', stamp_text,
                '","LastModifiedDate":"', stamp_text, '","SystemModstamp":"', stamp_text, '"}')
            w["CampaignMember"].write_lines(batch)
            history["CampaignMember"].write_lines(batch.filter(pa.array(created_m >= start)))
            serial += len(members)
        event_members = np.flatnonzero(employer >= 0)
        for k, cid in enumerate(campaigns[len(email_campaigns):]):
            chosen = event_members[rng.random(len(event_members)) < 0.15]
            statuses = rng.integers(0, 3, size=len(chosen)).tolist()
            for i, st in zip(chosen.tolist(), statuses, strict=True):
                if i not in contact_id_of or created_of[i] >= start:
                    continue
                created_m = min(max(start - (60 - 10 * k) * DAY, int(persons.first_seen[i])) + 3_600, start - 1)
                w["CampaignMember"].write(
                    {
                        "Id": sf_id("CampaignMember", serial),
                        "CampaignId": cid,
                        "ContactId": contact_id_of[i],
                        "LeadId": None,
                        "Status": ("Registered", "Attended", "No Show")[st],
                        "HasResponded": st == 1,
                        **_audit(created_m, created_m),
                    }
                )
                serial += 1

        # --- Opportunity and Task ----------------------------------------------------------
        stages = (("Prospecting", 10), ("Qualification", 20), ("Proposal/Price Quote", 75),
                  ("Negotiation/Review", 90), ("Closed Won", 100), ("Closed Lost", 0))
        colleagues: dict[int, list[int]] = {}
        for i in employed.tolist():
            if i in contact_id_of and contact_id_of[i].startswith("003") and created_of[i] < start:
                colleagues.setdefault(int(employer[i]), []).append(i)
        opp_serial = task_serial = 0
        n_opps = rng.poisson(1.2, size=n_comp).tolist()
        n_tasks = (1 + rng.poisson(1.5, size=n_comp)).tolist()
        for k in range(n_comp):
            people_here = colleagues.get(k, [])
            for _ in range(n_opps[k]):
                created_o = int(comp_created[k]) + int(rng.integers(30 * DAY, 180 * DAY))
                created_o = min(created_o, start - DAY)
                stage, prob = stages[int(rng.integers(0, len(stages)))]
                w["Opportunity"].write(
                    {
                        "Id": sf_id("Opportunity", opp_serial),
                        "AccountId": account_ids[k],
                        "ContactId": contact_id_of[people_here[opp_serial % len(people_here)]] if people_here
                        else None,
                        "CurrencyIsoCode": ref.COUNTRIES[comp_country[k]].currency,
                        "Name": f"{comp_names[k]} - {('Uniforms', 'Gifting', 'Office Supplies')[opp_serial % 3]}",
                        "StageName": stage,
                        "Probability": float(prob),
                        "Amount": float(round(float(np.exp(rng.normal(9.0, 0.8))), -2)),
                        "CloseDate": sf_date(created_o + int(rng.integers(20, 120)) * DAY),
                        "Type": "New Customer" if opp_serial % 2 else "Existing Customer - Upgrade",
                        "LeadSource": ref.LEAD_SOURCES[opp_serial % len(ref.LEAD_SOURCES)],
                        "IsClosed": stage.startswith("Closed"),
                        "IsWon": stage == "Closed Won",
                        **_audit(created_o, created_o + int(rng.integers(0, 20 * DAY))),
                    }
                )
                opp_serial += 1
            for t in range(n_tasks[k]):
                created_t = min(int(comp_created[k]) + int(rng.integers(10 * DAY, 300 * DAY)), start - 1)
                subtype = ("Call", "Email", "Task")[t % 3]
                contact = people_here[t % len(people_here)] if people_here else None
                w["Task"].write(
                    {
                        "Id": sf_id("Task", task_serial),
                        "WhatId": account_ids[k],
                        "WhoId": contact_id_of[contact] if contact is not None else None,
                        "Subject": {"Call": "Call", "Email": "Email: follow-up", "Task": "Send quote"}[subtype],
                        "Type": {"Call": "Call", "Email": "Email", "Task": "Other"}[subtype],
                        "Status": "Completed" if t % 4 else "Not Started",
                        "Priority": "High" if t % 5 == 0 else "Normal",
                        "ActivityDate": sf_date(created_t + 2 * DAY),
                        **_audit(created_t, min(created_t + 2 * DAY, start - 1)),
                    }
                )
                task_serial += 1
    finally:
        for obj, writer in w.items():
            counts[obj] = writer.rows
            writer.close()
        for writer in history.values():
            writer.close()

    return CrmResult(
        counts=counts,
        send_email=send_email,
        crm_opt_out=crm_opt_out,
        email_campaigns=email_campaigns,
        membership=membership,
        office_inboxes=office,
        shared_emails=shared,
    )
