"""No generated person's email or phone number appears in a nightly run's logs or reports.

Uses the shared end-to-end run (`nightly`: three dates and a re-run, real Airflow, dbt, Great
Expectations and the sandbox org). The ground truth (`truth/persons.csv`) and the raw CRM
records hold every person's email and phones, in the messy formats the exports use; each log and
report file is searched for email-shaped and phone-shaped tokens, which are matched against them.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from tests.integration.conftest import NightlyRuns

EMAIL = re.compile(r"[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
# a run of digits with the separators phone numbers are written with: +1 (303) 917-5187, 0667 03 90 96
# (not part of a word such as a Salesforce Id, nor of a decimal number such as an SVG coordinate)
PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{6,}\d(?![\w.])")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _people(company: Path) -> tuple[set[str], set[str]]:
    """Every generated email (lower case) and phone (its last 9 digits, which every format keeps).

    Placeholder phones the messy exports carry (000-000-0000, 999 999 9999) identify nobody: left out.
    """
    emails: set[str] = set()
    phones: set[str] = set()
    with (company / "truth" / "persons.csv").open(newline="") as handle:
        for person in csv.DictReader(handle):
            if person["email"]:
                emails.add(person["email"].lower())
            if len(_digits(person["phone_e164"])) >= 9:
                phones.add(_digits(person["phone_e164"])[-9:])
    for name in ("Contact", "Lead"):
        with (company / "crm" / f"{name}.ndjson").open() as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("Email"):
                    emails.add(record["Email"].strip().lower())
                for field in ("Phone", "MobilePhone"):
                    if len(_digits(record.get(field) or "")) >= 9:
                        phones.add(_digits(record[field])[-9:])
    return emails, {p for p in phones if len(set(p)) > 3}


def _found(text: str, emails: set[str], phones: set[str]) -> tuple[set[str], set[str]]:
    text = text.lower()
    found_phones = {d[-9:] for d in map(_digits, PHONE.findall(text)) if len(d) >= 9 and d[-9:] in phones}
    return {e for e in EMAIL.findall(text) if e in emails}, found_phones


def _files(nightly: NightlyRuns) -> list[Path]:
    roots = [nightly.paths.reports, nightly.paths.airflow_home / "logs", nightly.paths.state / "logs",
             nightly.paths.warehouse.parent / "dbt_target" / "logs"]
    found = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    found += [p for p in nightly.logs.values() if p.exists()]
    return sorted(set(found))


def test_no_email_or_phone_of_a_generated_person_in_logs_or_reports(nightly: NightlyRuns) -> None:
    emails, phones = _people(nightly.paths.company_dir)
    assert len(emails) > 1000 and len(phones) > 1000, "the generated company has people with emails and phones"
    files = _files(nightly)
    kinds = {p.suffix for p in files}
    assert {".log", ".md", ".json"} <= kinds, f"expected task logs and reports to scan, found {sorted(kinds)}"
    # `airflow dags test` writes every task's log into the run's log file; the tasks' own lines must be there
    assert all("run summary written to" in p.read_text(errors="replace") for p in nightly.logs.values()), \
        "the run logs do not hold the tasks' logs"
    # the search itself works: in the raw CRM export it finds (nearly) everyone, whatever the format
    crm = nightly.paths.company_dir / "crm"
    raw = (crm / "Contact.ndjson").read_text() + (crm / "Lead.ndjson").read_text()
    raw_emails, raw_phones = _found(raw, emails, phones)
    assert len(raw_emails) > 0.5 * len(emails) and len(raw_phones) > 0.5 * len(phones)
    leaks: list[str] = []
    for path in files:
        leaked_emails, leaked_phones = _found(path.read_text(errors="replace"), emails, phones)
        if leaked_emails or leaked_phones:
            rel = path.relative_to(nightly.paths.state) if path.is_relative_to(nightly.paths.state) else path
            leaks.append(f"{rel}: {len(leaked_emails)} emails, {len(leaked_phones)} phone numbers")
    assert not leaks, "personal data in logs or reports (counts only):\n" + "\n".join(leaks)
