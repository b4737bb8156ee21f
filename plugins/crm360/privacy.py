"""Right to be forgotten: deletion requests, the suppression list and the audit trail.

A request names a person by one identifier (an email, a `customer_id`, or a Salesforce Contact/Lead
Id). It is written to `crm360_ops.privacy_requests` (by `crm360 privacy forget`, or by any system
that can insert a row: `insert into crm360_ops.privacy_requests (identifier_type, identifier,
requested_by) values ('email', 'a@b.com', 'ticket-7')` is enough; the id and the hash are filled in)
and handled by `process_requests`, which the nightly run calls first:

1. **resolve**: the person's records and identifiers, from the identity graph
   (`intermediate.int_customers_stitched`, `int_identity_identifiers`: only identifiers that may
   join records and that no other person carries, so a shared household phone forgets nobody else),
   widened by one pass over the landing zone (rows carrying those identifiers add their ids);
2. **suppress**: a salted sha256 of every identifier goes into `crm360_ops.privacy_suppression`;
   landing (channels and Salesforce) drops rows carrying any of them from then on, counted as
   `suppressed_rows`, never quarantined. The list holds hashes, never identifiers;
3. **salesforce**: the fields crm360 wrote (`sync_state`) are cleared on their Contacts and Leads
   and the CampaignMembers crm360 created for them are deleted, through the writer; the Contact or
   Lead itself is deleted only with `CRM360_PRIVACY_DELETE_CRM_RECORDS=true` (the CRM owner's call);
4. **landing**: every partition holding their rows is rewritten without them (Salesforce objects and
   rows pointing at them, shop orders with their lines and refunds, email and web events) and
   quarantined raw lines carrying their email or phone are dropped;
5. **warehouse**: rows naming them are deleted from every table (intermediate, marts, the
   incremental segment history, identity snapshots and changes, sync and campaign-member state and
   history); the next dbt build rebuilds the rest from the cleaned landing zone;
6. **gx** and **reports**: validation results and data docs pages holding their identifiers are
   deleted and the docs rebuilt; reports (counts only) are checked the same way.

Each completed step is a row of `crm360_ops.privacy_audit` (request id, hashed identifier, step,
counts; no personal data). When the request is done its identifier is erased from the request row.
A request whose Salesforce step fails stays `failed` and is retried by the next run; its
suppression already applies. A row whose identifier is not a valid one of its type becomes
`invalid`, with the reason in `error`, and is not retried. Every step is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from crm360 import landing
from crm360.warehouse import OPS_SCHEMA

if TYPE_CHECKING:
    from crm360.rundate import RunWindow
    from crm360.salesforce.client import SalesforceSession
    from crm360.settings import Settings

log = logging.getLogger(__name__)

REQUEST_KINDS = ("email", "customer_id", "salesforce_id")
# the identifier kinds that are hashed into the suppression list
KINDS = ("email", "phone", "sfdc_id", "user_id", "anonymous_id", "customer_id")
PHONE_DIGITS = 9  # a phone is its last nine digits: every way people write a number keeps them
MIN_PHONE_DIGITS = 7
DELETE_CRM_RECORDS_ENV = "CRM360_PRIVACY_DELETE_CRM_RECORDS"
SALT_ENV = "CRM360_PRIVACY_SALT"
SALT_CONN_ENV = "CRM360_PRIVACY_SALT_CONN_ID"
EMAIL_PATTERN = r"[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+"
PHONE_PATTERN = r"\+?\(?\d[\d\s().-]{6,}\d"
GONE_ERRORS = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})

DDL = f"""
create schema if not exists {OPS_SCHEMA};
create table if not exists {OPS_SCHEMA}.privacy_requests (
    request_id varchar primary key default ('prv_' || left(replace(uuid()::varchar, '-', ''), 16)),
    identifier_type varchar not null,  -- email | customer_id | salesforce_id
    identifier varchar,                -- erased (null) once the request is done
    identifier_hash varchar,           -- salted sha256 of the normalized identifier (filled in when
                                       -- a row is inserted without it)
    requested_by varchar,
    requested_at timestamptz not null default now(),
    status varchar not null default 'pending', -- pending | done | failed | invalid
    attempts integer not null default 0,
    error varchar,                     -- why the last attempt failed (no personal data)
    processed_at timestamptz
);
create table if not exists {OPS_SCHEMA}.privacy_suppression (
    identifier_hash varchar primary key, -- salted sha256 of '<kind>:<normalized identifier>'
    identifier_type varchar not null,    -- email | phone | sfdc_id | user_id | anonymous_id | customer_id
    request_id varchar not null,
    added_at timestamptz not null
);
create table if not exists {OPS_SCHEMA}.privacy_audit (
    request_id varchar not null,
    identifier_hash varchar not null,
    step varchar not null,             -- requested, resolve, suppress, salesforce, landing, warehouse, gx,
                                       -- reports, done
    run_id varchar,
    counts json,                       -- what the step did, as numbers
    completed_at timestamptz not null
);
"""

# tables whose rows are the privacy machinery itself: never scrubbed by the warehouse sweep
OWN_TABLES = frozenset({"privacy_requests", "privacy_suppression", "privacy_audit"})


class PrivacyStepFailed(RuntimeError):
    """A step of a deletion request could not complete; the request is retried by the next run."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    # warehouses created before requests could be inserted by plain SQL
    columns = dict(con.execute("select column_name, is_nullable from information_schema.columns "
                               f"where table_schema = '{OPS_SCHEMA}' and table_name = 'privacy_requests'").fetchall())
    if columns.get("identifier_hash") == "NO":
        con.execute(f"alter table {OPS_SCHEMA}.privacy_requests alter column identifier_hash drop not null")
        con.execute(f"alter table {OPS_SCHEMA}.privacy_requests alter column request_id set default "
                    "('prv_' || left(replace(uuid()::varchar, '-', ''), 16))")


def _hash_inserted_requests(con: duckdb.DuckDBPyConnection, salt: str) -> int:
    """Requests another system inserted with only a type and an identifier: hash them, audit
    `requested`, and mark those that name nobody `invalid` (with the reason) so they are not retried."""
    rows = con.execute(f"select request_id, identifier_type, identifier from {OPS_SCHEMA}.privacy_requests "
                       "where identifier_hash is null and status = 'pending'").fetchall()
    for request_id, kind, identifier in rows:
        hashed = identifier_hash(_hash_kind(kind), identifier, salt) if kind in REQUEST_KINDS else None
        if hashed is None:
            reason = (f"identifier_type must be one of {', '.join(REQUEST_KINDS)}" if kind not in REQUEST_KINDS
                      else f"the identifier is empty or not a valid {kind}")
            con.execute(f"update {OPS_SCHEMA}.privacy_requests set status = 'invalid', identifier = null, "
                        "error = ? where request_id = ?", [f"{reason}; insert a corrected request", request_id])
            log.error("privacy request %s is invalid (%s): not processed", request_id, reason)
            continue
        con.execute(f"update {OPS_SCHEMA}.privacy_requests set identifier_hash = ?, identifier = ? "
                    "where request_id = ?", [hashed, identifier.strip(), request_id])
        _audit(con, request_id, hashed, "requested", None, {})
    return len(rows)


# ----------------------------------------------------------------------------- hashing

def normalize(kind: str, value: Any) -> str | None:
    """The form an identifier is compared and hashed in, or None when it identifies nobody.

    email: trimmed, lower case. phone: its last nine digits (so +44 20 7946 0018, 020 7946 0018 and
    0044 20 7946 0018 are one number), None under seven digits or for placeholders (000 000 0000).
    Ids: trimmed, case kept (Salesforce Ids are case-sensitive)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if kind == "email":
        return text.lower() if "@" in text else None
    if kind == "phone":
        digits = re.sub(r"\D", "", text)
        if len(digits) < MIN_PHONE_DIGITS or len(set(digits)) <= 2:
            return None
        return digits[-PHONE_DIGITS:]
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}; known: {', '.join(KINDS)}")
    return text


def load_salt() -> str:
    """The secret mixed into every hash: `CRM360_PRIVACY_SALT`, or the password of the Airflow
    connection named by `CRM360_PRIVACY_SALT_CONN_ID`; empty when neither is set. Changing it
    makes the existing suppression list match nothing: set it once, before the first request."""
    value = os.environ.get(SALT_ENV)
    if value is not None:
        return value
    conn_id = os.environ.get(SALT_CONN_ENV)
    if not conn_id:
        return ""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id).password or ""


def identifier_hash(kind: str, value: Any, salt: str = "") -> str | None:
    """sha256 hex of `<salt><kind>:<normalized value>`, or None when the value identifies nobody."""
    normalized = normalize(kind, value)
    if normalized is None:
        return None
    return hashlib.sha256(f"{salt}{kind}:{normalized}".encode()).hexdigest()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _phone_sql(expression: str) -> str:
    """SQL twin of normalize('phone', ...)."""
    digits = f"regexp_replace(coalesce({expression}, ''), '[^0-9]', '', 'g')"
    return (f"case when length({digits}) >= {MIN_PHONE_DIGITS} and length(list_distinct(string_split({digits}, '')))"
            f" > 2 then right({digits}, {PHONE_DIGITS}) end")


def candidates(source: str, entity: str, schema: pa.Schema) -> list[tuple[str, str]]:
    """(kind, SQL expression of its normalized value) for every identifier a landed row may carry."""
    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    out: list[tuple[str, str]] = []
    if source == landing.QUARANTINE_SOURCE:
        return out  # raw lines: see _quarantine_sql
    for name in strings:
        low, q = name.lower(), _quote(name)
        if "email" in low:
            out.append(("email", f"nullif(lower(trim({q})), '')"))
        elif "phone" in low:
            out.append(("phone", _phone_sql(q)))
    if source == "salesforce":
        # a Contact or Lead Id wherever a row points at one: Id, WhoId, ContactId, LeadId, ConvertedContactId...
        out += [("sfdc_id", _quote(n)) for n in strings if n == "Id" or n.endswith("Id")]
        out += [("customer_id", _quote(n)) for n in strings if "customer_id" in n.lower()]  # crm360's own field
    elif source == "shopify" and "customer_id" in strings:
        out.append(("user_id", '"customer_id"'))
    elif source == "segment":
        if "anonymous_id" in strings:
            out.append(("anonymous_id", '"anonymous_id"'))
        if "user_id" in strings:
            out.append(("user_id", '"user_id"'))
        if "traits" in strings:
            traits = "case when json_valid(traits) then json_extract_string(traits, '$.{key}') end"
            out.append(("email", f"nullif(lower(trim({traits.format(key='email')})), '')"))
            out.append(("phone", _phone_sql(traits.format(key="phone"))))
    return out


def _quarantine_sql(salt: str) -> str:
    """Whether a quarantined raw line carries a suppressed email or phone (tokens found by pattern)."""
    s = _sql_string(salt)
    emails = (f"list_transform(regexp_extract_all(lower(raw), {_sql_string(EMAIL_PATTERN)}), "
              f"x -> sha256({s} || 'email:' || x))")
    phones = (f"list_transform(list_filter(list_transform(regexp_extract_all(raw, {_sql_string(PHONE_PATTERN)}), "
              f"x -> {_phone_sql('x')}), x -> x is not null), x -> sha256({s} || 'phone:' || x))")
    return (f"(len(list_intersect({emails}, (select hashes from suppressed_list))) > 0 "
            f"or len(list_intersect({phones}, (select hashes from suppressed_list))) > 0)")


@dataclass(frozen=True)
class Suppression:
    """The suppression list as landing uses it: hashes only, and the salt they were made with."""

    hashes: frozenset[str] = frozenset()
    salt: str = ""

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def dropped_rows(self, table: pa.Table, source: str, entity: str,
                     raw_terms: Iterable[str] = ()) -> list[int]:
        """Indexes of the rows of `table` (landed as `source`/`entity`) carrying a suppressed identifier.
        `raw_terms`: for quarantine tables, substrings (ids) that also mark a raw line as theirs."""
        terms = [t for t in raw_terms if t]
        if table.num_rows == 0 or (not self.hashes and not terms):
            return []
        s = _sql_string(self.salt)
        tests = [f"coalesce(sha256({s} || '{kind}:' || ({expr})) in (select h from suppressed), false)"
                 for kind, expr in candidates(source, entity, table.schema)]
        if source == landing.QUARANTINE_SOURCE and "raw" in table.column_names:
            tests.append(f"coalesce({_quarantine_sql(self.salt)}, false)")
            tests += [f"contains(coalesce(raw, ''), {_sql_string(t)})" for t in terms]
        if not tests:
            return []
        con = duckdb.connect()
        try:
            indexed = table.append_column("__crm360_row", pa.array(range(table.num_rows), pa.int64()))
            con.register("landed", indexed)
            con.register("suppressed", pa.table({"h": pa.array(sorted(self.hashes), pa.string())}))
            con.execute("create temp table suppressed_list as select coalesce(list(h), []) as hashes from suppressed")
            rows = con.execute(f"select __crm360_row from landed where {' or '.join(tests)} "
                               "order by __crm360_row").fetchall()
        finally:
            con.close()
        return [r[0] for r in rows]

    def filter(self, table: pa.Table, source: str, entity: str) -> tuple[pa.Table, int]:
        """`table` without its suppressed rows, and how many were dropped."""
        dropped = self.dropped_rows(table, source, entity)
        return without_rows(table, dropped), len(dropped)


def without_rows(table: pa.Table, dropped: list[int]) -> pa.Table:
    if not dropped:
        return table
    mask = [True] * table.num_rows
    for i in dropped:
        mask[i] = False
    return table.filter(pa.array(mask))


def filter_export(tables: dict[str, pa.Table], source: str, main: str,
                  suppression: Suppression) -> tuple[dict[str, pa.Table], list[int]]:
    """One export's entities (a shop's orders with their order_lines and refunds; email or web events)
    without the records carrying a suppressed identifier. `main` is the entity holding one row per
    record; rows of the other entities that point at a dropped order go with it. Returns the tables
    and the indexes of the dropped `main` rows."""
    if not suppression or main not in tables:
        return tables, []
    dropped = suppression.dropped_rows(tables[main], source, main)
    if not dropped:
        return tables, []
    out = dict(tables)
    out[main] = without_rows(tables[main], dropped)
    if source == "shopify" and main == "orders":
        orders = {i for i in tables[main].column("order_id").take(pa.array(dropped)).to_pylist() if i is not None}
        for entity in CHILDREN_OF_ORDERS:
            if entity in out:
                out[entity] = drop_orders(out[entity], orders)
    return out, dropped


CHILDREN_OF_ORDERS = ("order_lines", "refunds")


def _filter_collecting(table: pa.Table, source: str, entity: str, suppression: Suppression,
                       dropped_orders: set[str], raw_terms: Iterable[str] = ()) -> tuple[pa.Table, int]:
    dropped = suppression.dropped_rows(table, source, entity, raw_terms)
    if dropped and source == "shopify" and entity == "orders":
        ids = table.column("order_id").take(pa.array(dropped)).to_pylist()
        dropped_orders.update(i for i in ids if i is not None)
    return without_rows(table, dropped), len(dropped)


def drop_orders(table: pa.Table, orders: set[str]) -> pa.Table:
    if not orders or table.num_rows == 0:
        return table
    import pyarrow.compute as pc

    return table.filter(pc.invert(pc.fill_null(pc.is_in(table["order_id"], pa.array(sorted(orders))), False)))


def load_suppression(con: duckdb.DuckDBPyConnection, salt: str | None = None) -> Suppression:
    """The suppression list from the warehouse (a writable connection: the table is created if missing)."""
    ensure_tables(con)
    hashes = frozenset(r[0] for r in con.execute(
        f"select identifier_hash from {OPS_SCHEMA}.privacy_suppression").fetchall())
    return Suppression(hashes, load_salt() if salt is None else salt)


# ----------------------------------------------------------------------------- requests

def record_request(con: duckdb.DuckDBPyConnection, kind: str, identifier: str, requested_by: str | None = None,
                   salt: str | None = None) -> str:
    """Store a deletion request (pending) and return its id."""
    if kind not in REQUEST_KINDS:
        raise ValueError(f"a request names a person by one of {', '.join(REQUEST_KINDS)}, not {kind!r}")
    salt = load_salt() if salt is None else salt
    hashed = identifier_hash(_hash_kind(kind), identifier, salt)
    if hashed is None:
        raise ValueError(f"the {kind} given is empty or not a valid {kind}")
    ensure_tables(con)
    request_id = f"prv_{uuid.uuid4().hex[:16]}"
    con.execute(f"insert into {OPS_SCHEMA}.privacy_requests (request_id, identifier_type, identifier, identifier_hash, "
                "requested_by) values (?, ?, ?, ?, ?)", [request_id, kind, identifier.strip(), hashed, requested_by])
    _audit(con, request_id, hashed, "requested", None, {})
    return request_id


def _hash_kind(request_kind: str) -> str:
    return {"email": "email", "customer_id": "customer_id", "salesforce_id": "sfdc_id"}[request_kind]


def _audit(con: duckdb.DuckDBPyConnection, request_id: str, hashed: str, step: str, run_id: str | None,
           counts: dict[str, Any]) -> None:
    con.execute(f"insert into {OPS_SCHEMA}.privacy_audit values (?, ?, ?, ?, ?, now())",
                [request_id, hashed, step, run_id, json.dumps(counts, sort_keys=True)])


# ----------------------------------------------------------------------------- resolve

@dataclass
class Person:
    """Everything that identifies one person, in memory only while a request is processed."""

    customer_ids: set[str] = field(default_factory=set)
    record_keys: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)        # normalized (last nine digits)
    phones_raw: set[str] = field(default_factory=set)    # as the sources wrote them
    sfdc_ids: set[str] = field(default_factory=set)      # their Contacts and Leads
    sfdc_objects: dict[str, str] = field(default_factory=dict)  # Id -> Contact | Lead
    user_ids: set[str] = field(default_factory=set)      # shop customer ids, Segment userIds
    anonymous_ids: set[str] = field(default_factory=set)

    def identifiers(self) -> Iterator[tuple[str, str]]:
        for kind, values in (("email", self.emails), ("phone", self.phones), ("sfdc_id", self.sfdc_ids),
                             ("user_id", self.user_ids), ("anonymous_id", self.anonymous_ids),
                             ("customer_id", self.customer_ids)):
            for value in sorted(values):
                yield kind, value

    def counts(self) -> dict[str, int]:
        return {"customers": len(self.customer_ids), "records": len(self.record_keys), "emails": len(self.emails),
                "phones": len(self.phones), "salesforce_records": len(self.sfdc_ids), "user_ids": len(self.user_ids),
                "anonymous_ids": len(self.anonymous_ids)}

    def unique_terms(self) -> list[str]:
        """Long, unique strings that mark a raw line or a text value as theirs."""
        return sorted(t for t in self.sfdc_ids | self.anonymous_ids | self.customer_ids | self.record_keys
                      if len(t) >= 12)


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, name]).fetchone()[0])


def resolve(con: duckdb.DuckDBPyConnection, kind: str, identifier: str, landing_root: Path | None = None,
            salt: str = "") -> tuple[Person, set[tuple[str, str]]]:
    """The person a request names, and the identifiers other people carry (never theirs to forget)."""
    person = Person()
    value = normalize(_hash_kind(kind), identifier) or identifier.strip()
    {"email": person.emails, "customer_id": person.customer_ids, "salesforce_id": person.sfdc_ids}[kind].add(value)
    others: set[tuple[str, str]] = set()
    if _relation_exists(con, "intermediate", "int_customers_stitched"):
        found = {r[0] for r in con.execute(
            """
            select customer_id from intermediate.int_customers_stitched
            where (? = 'email' and email_normalized = ?) or (? = 'customer_id' and customer_id = ?)
               or (? = 'salesforce_id' and source in ('salesforce_contact', 'salesforce_lead') and record_id = ?)
            union
            select s.customer_id from intermediate.int_identity_identifiers as i
            inner join intermediate.int_customers_stitched as s on s.record_key = i.record_key
            where ? = 'email' and i.identifier_type = 'email' and i.identifier_value = ?
            """, [kind, value, kind, value, kind, value, kind, value]).fetchall()}
        person.customer_ids |= found
        if found:
            _add_graph(con, person, others)
    if landing_root is not None:
        _widen_from_landing(landing_root, person, others, salt)
    return person, others


def _add_graph(con: duckdb.DuckDBPyConnection, person: Person, others: set[tuple[str, str]]) -> None:
    ids = sorted(person.customer_ids)
    for key, source, record_id in con.execute(
            "select record_key, source, record_id from intermediate.int_customers_stitched "
            "where customer_id in (select unnest(?))", [ids]).fetchall():
        person.record_keys.add(key)
        if source in ("salesforce_contact", "salesforce_lead"):
            person.sfdc_ids.add(record_id)
            person.sfdc_objects[record_id] = "Contact" if source == "salesforce_contact" else "Lead"
        elif source == "shopify_customer":
            person.user_ids.add(record_id)
        elif source == "segment_anonymous":
            person.anonymous_ids.add(record_id)
        elif source == "sendgrid_recipient":
            person.emails.add(record_id)
    keys = sorted(person.record_keys)
    # identifiers another person's records also carry (a shared phone, a household inbox) are not theirs
    for kind, value in con.execute(
            """
            select distinct identifier_type, identifier_value from intermediate.int_identity_identifiers
            where record_key not in (select unnest(?))
              and identifier_value in (select identifier_value from intermediate.int_identity_identifiers
                                       where record_key in (select unnest(?)))
            """, [keys, keys]).fetchall():
        others.add((_graph_kind(kind), normalize(_graph_kind(kind), value) or value))
    for kind, value, joinable in con.execute(
            "select identifier_type, identifier_value, bool_and(is_joinable) "
            "from intermediate.int_identity_identifiers where record_key in (select unnest(?)) group by all",
            [keys]).fetchall():
        hash_kind = _graph_kind(kind)
        normalized = normalize(hash_kind, value)
        if not joinable or normalized is None or (hash_kind, normalized) in others:
            continue
        _add(person, hash_kind, normalized)
    if _relation_exists(con, "intermediate", "int_identity_records_unioned"):
        for (phone,) in con.execute("select distinct phone from intermediate.int_identity_records_unioned "
                                    "where record_key in (select unnest(?)) and phone is not null", [keys]).fetchall():
            normalized = normalize("phone", phone)
            if normalized and ("phone", normalized) not in others:
                person.phones.add(normalized)
                person.phones_raw.add(phone.strip())


def _graph_kind(identifier_type: str) -> str:
    return {"email": "email", "phone": "phone", "sfdc_contact": "sfdc_id", "shop_customer": "user_id",
            "web_user": "user_id"}.get(identifier_type, identifier_type)


def _add(person: Person, kind: str, value: str) -> None:
    {"email": person.emails, "phone": person.phones, "sfdc_id": person.sfdc_ids, "user_id": person.user_ids,
     "anonymous_id": person.anonymous_ids, "customer_id": person.customer_ids}[kind].add(value)


def person_hashes(person: Person, salt: str) -> dict[str, str]:
    """hash -> kind for every identifier of the person."""
    out = {}
    for kind, value in person.identifiers():
        hashed = identifier_hash(kind, value, salt)
        if hashed:
            out[hashed] = kind
    return out


# the landed entities whose rows describe a person; a matching row adds its other identifiers
WIDEN_FROM = {("salesforce", "contact"): ("sfdc_id", "Id"), ("salesforce", "lead"): ("sfdc_id", "Id"),
              ("shopify", "orders"): ("user_id", "customer_id"),
              ("segment", "events"): ("anonymous_id", "anonymous_id")}


def _widen_from_landing(root: Path, person: Person, others: set[tuple[str, str]], salt: str) -> None:
    """Rows landed after the last identity build (or with no build at all) carrying the person's
    identifiers add their own record ids, emails and phones (unless another person carries them)."""
    import pyarrow.parquet as pq

    suppression = Suppression(frozenset(person_hashes(person, salt)), salt)
    for (source, entity), (kind, column) in WIDEN_FROM.items():
        for path in sorted((root / source / entity).glob(f"ds=*/{landing.PART_NAME}")):
            table = pq.read_table(path)
            dropped = suppression.dropped_rows(table, source, entity)
            if not dropped:
                continue
            rows = table.take(pa.array(dropped)).to_pylist()
            for row in rows:
                found = [(kind, row.get(column))]
                if source == "salesforce" and row.get("Id"):
                    person.sfdc_objects.setdefault(row["Id"], entity.capitalize())
                for name, value in row.items():
                    if "email" in name.lower():
                        found.append(("email", value))
                    elif "phone" in name.lower():
                        found.append(("phone", value))
                        if normalize("phone", value) and ("phone", normalize("phone", value)) not in others:
                            person.phones_raw.add(str(value).strip())
                for found_kind, value in found:
                    normalized = normalize(found_kind, value)
                    if normalized and (found_kind, normalized) not in others:
                        _add(person, found_kind, normalized)


# ----------------------------------------------------------------------------- steps

def suppress(con: duckdb.DuckDBPyConnection, person: Person, request_id: str, salt: str) -> int:
    """Add the person's identifier hashes to the suppression list; returns how many were new."""
    hashes = person_hashes(person, salt)
    before = con.execute(f"select count(*) from {OPS_SCHEMA}.privacy_suppression").fetchone()[0]
    for hashed, kind in hashes.items():
        con.execute(f"insert or ignore into {OPS_SCHEMA}.privacy_suppression values (?, ?, ?, now())",
                    [hashed, kind, request_id])
    return con.execute(f"select count(*) from {OPS_SCHEMA}.privacy_suppression").fetchone()[0] - before


def delete_crm_records_enabled() -> bool:
    return os.environ.get(DELETE_CRM_RECORDS_ENV, "false").strip().lower() in ("1", "true", "yes")


# standard fields a created record cannot be without: left as they are unless the record is deleted
NOT_CLEARABLE = frozenset({"LastName", "Company", "HasOptedOutOfEmail", "DoNotCall"})


@dataclass
class SalesforcePlan:
    """What forgetting a person takes in Salesforce."""

    clear: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # sobject -> [{"Id", field: None}]
    members: list[str] = field(default_factory=list)                      # CampaignMember Ids crm360 created
    delete: dict[str, list[str]] = field(default_factory=dict)            # sobject -> record Ids

    def __bool__(self) -> bool:
        return bool(self.clear or self.members or self.delete)


def plan_salesforce(con: duckdb.DuckDBPyConnection, person: Person, *, delete_records: bool) -> SalesforcePlan:
    """The fields crm360 wrote on their Contacts and Leads (sync_state and acknowledged writes), the
    CampaignMembers crm360 created for them, and, when `delete_records`, the records themselves."""
    objects = dict(person.sfdc_objects)
    objects.update(con.execute(
        f"select record_id, sobject from {OPS_SCHEMA}.sync_created where create_key in (select unnest(?))",
        [sorted(person.customer_ids) or [""]]).fetchall())
    ids = sorted(person.sfdc_ids | set(objects))
    plan = SalesforcePlan()
    if not ids:
        return plan
    written: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sobject, record_id, values in con.execute(
            f"select sobject, record_id, field_values from {OPS_SCHEMA}.sync_state "
            "where record_id in (select unnest(?)) "
            f"union all select sobject, record_id, sent_values from {OPS_SCHEMA}.sync_history "
            "where success and sent_values is not null and record_id in (select unnest(?))", [ids, ids]).fetchall():
        written[(sobject, record_id)].update(json.loads(values or "{}"))
        objects.setdefault(record_id, sobject)
    plan.members = [r[0] for r in con.execute(
        f"select distinct member_id from {OPS_SCHEMA}.campaign_member_state where created_by_crm360 "
        "and record_id in (select unnest(?)) order by member_id", [ids]).fetchall()]
    if delete_records:
        for record_id in ids:
            if objects.get(record_id) in ("Contact", "Lead"):
                plan.delete.setdefault(objects[record_id], []).append(record_id)
        return plan
    for (sobject, record_id), names in sorted(written.items()):
        names = sorted(n for n in names if n not in NOT_CLEARABLE)
        if names:
            plan.clear.setdefault(sobject, []).append({"Id": record_id, **{n: None for n in names}})
    return plan


def forget_in_salesforce(session: SalesforceSession, plan: SalesforcePlan, options: Any) -> dict[str, int]:
    """Carry out the plan through the writer (CampaignMembers first). A record gone already counts as
    done; any other failure raises PrivacyStepFailed after the rest was sent."""
    from crm360.activation.writer import write_records

    failures: list[str] = []

    def write(sobject: str, operation: str, records: list[dict[str, Any]]) -> int:
        if not records:
            return 0
        result = write_records(session, sobject, operation, records, options)
        done = 0
        for outcome in result.outcomes:
            if outcome.success or outcome.error_code in GONE_ERRORS:
                done += 1
            else:
                failures.append(f"{operation} {sobject}: {outcome.error_code}")
        return done

    counts = {"campaign_members_removed": write("CampaignMember", "delete", [{"Id": m} for m in plan.members]),
              "fields_cleared_records": 0, "records_deleted": 0}
    for sobject, records in sorted(plan.clear.items()):
        counts["fields_cleared_records"] += write(sobject, "update", records)
    for sobject, ids in sorted(plan.delete.items()):
        counts["records_deleted"] += write(sobject, "delete", [{"Id": i} for i in ids])
    if failures:
        raise PrivacyStepFailed(f"Salesforce did not take {len(failures)} writes ({', '.join(sorted(set(failures)))})")
    return counts


def scrub_landing(root: Path, suppression: Suppression, raw_terms: Iterable[str] = ()) -> dict[str, int]:
    """Rewrite every landed partition holding suppressed rows without them (quarantine included).
    Returns rows removed per `<source>.<entity>` and `partitions_rewritten`."""
    import pyarrow.parquet as pq

    terms = list(raw_terms)
    counts: dict[str, int] = defaultdict(int)
    if not root.exists():
        return {}
    sources = [p for p in sorted(root.iterdir()) if p.is_dir() and p.name != landing.QUARANTINE_SOURCE]
    for source_dir in sources:
        source = source_dir.name
        by_ds: dict[str, dict[str, Path]] = defaultdict(dict)
        for path in source_dir.glob(f"*/ds=*/{landing.PART_NAME}"):
            by_ds[path.parent.name.removeprefix("ds=")][path.parent.parent.name] = path
        for ds, paths in sorted(by_ds.items()):
            dropped_orders: set[str] = set()
            order = sorted(paths, key=lambda e: (source == "shopify" and e in CHILDREN_OF_ORDERS, e))
            for entity in order:
                table = pq.read_table(paths[entity])
                kept, dropped = _filter_collecting(table, source, entity, suppression, dropped_orders)
                if source == "shopify" and entity in CHILDREN_OF_ORDERS:
                    kept = drop_orders(kept, dropped_orders)
                    dropped = table.num_rows - kept.num_rows
                if dropped:
                    landing.write_partition(kept.cast(table.schema), root, source, entity, ds)
                    counts[f"{source}.{entity}"] += dropped
                    counts["partitions_rewritten"] += 1
    quarantine = root / landing.QUARANTINE_SOURCE
    for path in sorted(quarantine.glob(f"*/*/ds=*/{landing.PART_NAME}")):
        table = pq.read_table(path)
        dropped = suppression.dropped_rows(table, landing.QUARANTINE_SOURCE, path.parent.parent.name, terms)
        if dropped:
            source, export, ds = path.parent.parent.parent.name, path.parent.parent.name, path.parent.name[3:]
            landing.write_partition(without_rows(table, dropped), quarantine, source, export, ds)
            counts[f"_quarantine.{source}.{export}"] += len(dropped)
            counts["partitions_rewritten"] += 1
    return dict(counts)


def _text_columns(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[str]]:
    tables = {(s, t) for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
        "and table_catalog = current_database()").fetchall()}
    columns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() and data_type in ('VARCHAR', 'JSON') "
            "order by table_schema, table_name, ordinal_position").fetchall():
        if (schema, table) in tables and not (schema == OPS_SCHEMA and table in OWN_TABLES):
            columns[(schema, table)].append(column)
    return columns


def scrub_warehouse(con: duckdb.DuckDBPyConnection, person: Person) -> dict[str, int]:
    """Delete every row naming the person from every warehouse table; returns rows deleted per table."""
    exact = sorted(person.customer_ids | person.record_keys | person.sfdc_ids | person.anonymous_ids)
    loose = sorted(person.user_ids)  # short numeric ids: only in columns meant for them
    emails = sorted(person.emails)
    phones = sorted(person.phones)
    phones_raw = sorted(p for p in person.phones_raw if len(p) >= MIN_PHONE_DIGITS)
    counts: dict[str, int] = {}
    _scrub_identity_changes(con, person)
    for (schema, table), columns in _text_columns(con).items():
        tests = []
        for column in columns:
            q, low = _quote(column), column.lower()
            if exact:
                tests.append(f"{q} in (select unnest($exact))")
            if loose and any(k in low for k in ("customer", "user", "record_id", "identifier_value", "shop")):
                tests.append(f"{q} in (select unnest($loose))")
            if emails:
                tests.append(f"list_has_any(regexp_extract_all(lower({q}), {_sql_string(EMAIL_PATTERN)}), $emails)")
            if phones and "phone" in low:
                tests.append(f"{_phone_sql(q)} in (select unnest($phones))")
            tests += [f"contains({q}, {_sql_string(p)})" for p in phones_raw]
        if not tests:
            continue
        name = f"{_quote(schema)}.{_quote(table)}"
        where = " or ".join(f"coalesce({t}, false)" for t in tests)
        params = {k: v for k, v in (("exact", exact), ("loose", loose), ("emails", emails), ("phones", phones))
                  if f"${k}" in where}
        deleted = con.execute(f"delete from {name} where {where}", params).fetchone()[0]
        if deleted:
            counts[f"{schema}.{table}"] = int(deleted)
    return counts


def _scrub_identity_changes(con: duckdb.DuckDBPyConnection, person: Person) -> None:
    """Merges and splits that absorbed or produced the person's customer ids keep their other ids."""
    if not person.customer_ids or not _relation_exists(con, OPS_SCHEMA, "identity_changes"):
        return
    for rowid, others in con.execute(
            f"select rowid, other_customer_ids from {OPS_SCHEMA}.identity_changes "
            "where list_has_any(cast(other_customer_ids as varchar[]), ?)", [sorted(person.customer_ids)]).fetchall():
        kept = [c for c in json.loads(others) if c not in person.customer_ids]
        con.execute(f"update {OPS_SCHEMA}.identity_changes set other_customer_ids = ? where rowid = ?",
                    [json.dumps(kept), rowid])


def _text_hits(text: str, person: Person) -> bool:
    lower = text.lower()
    if any(e in lower for e in person.emails) or any(p in text for p in person.phones_raw if len(p) >= 7):
        return True
    if any(t in text for t in person.unique_terms()):
        return True
    return any(normalize("phone", m) in person.phones for m in re.findall(PHONE_PATTERN, text))


def scrub_files(root: Path | None, person: Person) -> int:
    """Delete files under `root` whose text names the person; returns how many."""
    if root is None or not root.exists():
        return 0
    removed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if _text_hits(text, person):
            path.unlink()
            removed += 1
    return removed


def scrub_gx(runtime_dir: Path | None, person: Person) -> dict[str, int]:
    """Delete GX validation results and data docs pages holding their identifiers; rebuild the docs."""
    if runtime_dir is None:
        return {"files_removed": 0}
    uncommitted = runtime_dir / "gx" / "uncommitted"
    removed = scrub_files(uncommitted, person)
    rebuilt = 0
    if removed and (runtime_dir / "gx" / "great_expectations.yml").exists():
        try:
            import great_expectations as gx

            gx.get_context(mode="file", project_root_dir=str(runtime_dir)).build_data_docs()
            rebuilt = 1
        except Exception as exc:  # the docs are a view of the results: without them the next gate rebuilds
            import shutil

            shutil.rmtree(uncommitted / "data_docs", ignore_errors=True)
            log.warning("GX data docs not rebuilt after removing validation results (%s): removed; the next "
                        "quality gate builds them again", type(exc).__name__)
    return {"files_removed": removed, "docs_rebuilt": rebuilt}


# ----------------------------------------------------------------------------- the task

def process_requests(window: RunWindow, settings: Settings, session: SalesforceSession | None = None
                     ) -> dict[str, Any]:
    """Handle every pending (or failed) deletion request; returns counts per request id."""
    from crm360 import warehouse

    salt = load_salt()
    summary: dict[str, Any] = {"requests": {}, "done": 0, "failed": 0}
    with warehouse.connect(settings.warehouse_path) as con:
        ensure_tables(con)
        _hash_inserted_requests(con, salt)
        pending = con.execute(
            f"select request_id, identifier_type, identifier, identifier_hash from {OPS_SCHEMA}.privacy_requests "
            "where status in ('pending', 'failed') and identifier is not null order by requested_at").fetchall()
        for request_id, kind, identifier, hashed in pending:
            try:
                counts = _process_one(con, window, settings, session, salt, request_id, kind, identifier, hashed)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"[:500]
                con.execute(f"update {OPS_SCHEMA}.privacy_requests set status = 'failed', attempts = attempts + 1, "
                            "error = ? where request_id = ?", [message, request_id])
                log.error("privacy request %s (identifier %s...) failed, retried by the next run: %s", request_id,
                          hashed[:12], message)
                summary["requests"][request_id] = {"status": "failed", "error": message}
                summary["failed"] += 1
                continue
            con.execute(f"update {OPS_SCHEMA}.privacy_requests set status = 'done', identifier = null, error = null, "
                        "attempts = attempts + 1, processed_at = now() where request_id = ?", [request_id])
            _audit(con, request_id, hashed, "done", window.run_id, {})
            summary["requests"][request_id] = {"status": "done", **counts}
            summary["done"] += 1
            log.info("privacy request %s (identifier %s...) done: %s", request_id, hashed[:12], json.dumps(counts))
        con.execute("checkpoint")
        summary["suppressed_identifiers"] = con.execute(
            f"select count(*) from {OPS_SCHEMA}.privacy_suppression").fetchone()[0]
    return summary


def _process_one(con: duckdb.DuckDBPyConnection, window: RunWindow, settings: Settings,
                 session: SalesforceSession | None, salt: str, request_id: str, kind: str, identifier: str,
                 hashed: str) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    person, _ = resolve(con, kind, identifier, settings.landing_root, salt)
    counts["resolve"] = person.counts()
    _audit(con, request_id, hashed, "resolve", window.run_id, counts["resolve"])

    counts["suppress"] = {"hashes_added": suppress(con, person, request_id, salt)}
    _audit(con, request_id, hashed, "suppress", window.run_id, counts["suppress"])

    plan = plan_salesforce(con, person, delete_records=delete_crm_records_enabled())
    counts["salesforce"] = {}
    if plan:
        from crm360 import tasks
        from crm360.activation import push
        from crm360.salesforce import client

        if session is None:
            session = client.SalesforceSession(lambda: client.connect(settings.salesforce_conn_id))
        push.check_org(session.sf, allow_production=tasks._allow_production(settings.salesforce_conn_id))
        counts["salesforce"] = forget_in_salesforce(session, plan, tasks.write_options(settings))
    _audit(con, request_id, hashed, "salesforce", window.run_id, counts["salesforce"])

    suppression = Suppression(frozenset(person_hashes(person, salt)), salt)
    counts["landing"] = scrub_landing(settings.landing_root, suppression, person.unique_terms())
    _audit(con, request_id, hashed, "landing", window.run_id, counts["landing"])

    counts["warehouse"] = scrub_warehouse(con, person)
    _audit(con, request_id, hashed, "warehouse", window.run_id, counts["warehouse"])

    counts["gx"] = scrub_gx(settings.gx_runtime_dir, person)
    _audit(con, request_id, hashed, "gx", window.run_id, counts["gx"])

    counts["reports"] = {"files_removed": scrub_files(settings.reports_root, person)}
    _audit(con, request_id, hashed, "reports", window.run_id, counts["reports"])
    return counts
