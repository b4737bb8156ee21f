"""The generator's CRM records seed the sandbox Salesforce through /sandbox/seed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sandbox.generator import generate, load
from sandbox.salesforce.process import start_sandbox

pytestmark = pytest.mark.integration


def test_generated_company_loads_into_the_sandbox(tmp_path: Path) -> None:
    manifest = generate(customers=400, days=2, end_date="2026-11-20", seed=5, out=tmp_path / "company")
    with start_sandbox(tmp_path / "state") as sandbox:
        result = load(tmp_path / "company", sandbox.server_file)
        stats = httpx.get(sandbox.url("/sandbox/stats"), verify=sandbox.ca_path, timeout=30).json()
        assert json.loads(sandbox.server_file.read_text())["instance_url"] == result["instance_url"]
    expected = manifest["counts"]["crm"]
    assert result["objects"] == expected
    for obj, n in expected.items():
        # the org has its own integration user besides the generated customer-care team
        assert stats["objects"][obj] == n + (1 if obj == "User" else 0), obj
