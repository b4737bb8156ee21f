"""`crm360-sandbox serve|inspect|reset`, and records that survive a restart of the server on the same --data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SETTINGS = ("SF_INSTANCE_URL", "SF_DOMAIN", "SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SF_CLIENT_ID",
            "SF_CLIENT_SECRET", "REQUESTS_CA_BUNDLE", "AIRFLOW_CONN_SALESFORCE_DEFAULT")


class CliServer:
    """`python -m sandbox.cli serve --port 0 --data DIR` as a subprocess, with the settings it printed."""

    def __init__(self, data: Path, *extra: str) -> None:
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        self.stderr = open(data.parent / f"{data.name}-stderr.log", "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "serve", "--port", "0", "--data",
                                         str(data), *extra], stdout=subprocess.PIPE, stderr=self.stderr,
                                        cwd=str(REPO), env=env, text=True)
        self.lines: list[str] = []
        assert self.process.stdout is not None
        while len(self.lines) < len(SETTINGS):
            line = self.process.stdout.readline()
            if not line:
                self.stop()
                raise RuntimeError(f"serve exited early: {self.lines}\n{self.stderr_text()}")
            self.lines.append(line.rstrip("\n"))
        self.settings = dict(line.split("=", 1) for line in self.lines)
        # the settings come before serving starts; server.json once it has
        deadline = time.monotonic() + 60
        while not self._announced():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serve did not write server.json\n{self.stderr_text()}")
            time.sleep(0.05)

    def _announced(self) -> bool:
        try:
            return json.loads((self.data / "server.json").read_text()).get("pid") == self.process.pid
        except (OSError, ValueError):
            return False

    def stderr_text(self) -> str:
        return (self.data.parent / f"{self.data.name}-stderr.log").read_text(errors="replace")

    def salesforce(self) -> Salesforce:
        s = self.settings
        return Salesforce(username=s["SF_USERNAME"], password=s["SF_PASSWORD"], security_token=s["SF_SECURITY_TOKEN"],
                          domain=s["SF_DOMAIN"])

    def admin(self, method: str, path: str, **kw: object) -> requests.Response:
        return requests.request(method, f"{self.settings['SF_INSTANCE_URL']}{path}", timeout=60, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=120)
        self.stderr.close()
        return self.process.returncode


@pytest.fixture
def ca_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "org"
    # every server in these tests uses DATA/ca.pem, made on its first start
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(data / "ca.pem"))
    yield data


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], capture_output=True, text=True,
                          cwd=str(REPO), env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


def test_serve_prints_client_settings_that_work(ca_env: Path) -> None:
    server = CliServer(ca_env)
    try:
        assert [line.split("=", 1)[0] for line in server.lines] == list(SETTINGS)
        s = server.settings
        port = json.loads((ca_env / "server.json").read_text())["port"]
        assert s["SF_INSTANCE_URL"] == f"https://127.0.0.1:{port}"
        assert s["REQUESTS_CA_BUNDLE"] == str(ca_env.resolve() / "ca.pem")
        conn = json.loads(s["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
        assert conn == {"conn_type": "salesforce", "login": s["SF_USERNAME"], "password": s["SF_PASSWORD"],
                        "extra": {"security_token": s["SF_SECURITY_TOKEN"], "domain": s["SF_DOMAIN"]}}
        sf = server.salesforce()
        assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
        oauth = Salesforce(username=s["SF_USERNAME"], password=s["SF_PASSWORD"], consumer_key=s["SF_CLIENT_ID"],
                           consumer_secret=s["SF_CLIENT_SECRET"], domain=s["SF_DOMAIN"])
        assert oauth.query("SELECT Id FROM User")["totalSize"] == 1
    finally:
        assert server.stop() == 0
    assert not (ca_env / "server.json").exists()


def test_records_survive_a_restart_on_the_same_data(ca_env: Path) -> None:
    server = CliServer(ca_env)
    sf = server.salesforce()
    account = sf.Account.create({"Name": "Acme"})["id"]
    kept = sf.Contact.create({"LastName": "Kept", "AccountId": account, "External_Id__c": "k-1"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.update(kept, {"Email": "kept@example.com"})
    sf.Contact.delete(gone)
    before = sf.query_all("SELECT Id, LastName, Email, SystemModstamp FROM Contact")["records"]
    assert server.stop() == 0

    server = CliServer(ca_env)
    try:
        sf = server.salesforce()
        after = sf.query_all("SELECT Id, LastName, Email, SystemModstamp FROM Contact")["records"]
        assert after == before
        deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{gone}'", include_deleted=True)
        assert deleted["records"][0]["IsDeleted"] is True
        assert sf.Contact.get_by_custom_id("External_Id__c", "k-1")["Id"] == kept
        assert sf.query(f"SELECT Account.Name FROM Contact WHERE Id = '{kept}'")["records"][0]["Account"]["Name"] \
            == "Acme"
        # new ids do not collide with ones made before the restart
        assert sf.Contact.create({"LastName": "New"})["id"] not in {kept, gone}
    finally:
        assert server.stop() == 0


def test_writes_answered_before_a_crash_are_kept(ca_env: Path) -> None:
    server = CliServer(ca_env)
    sf = server.salesforce()
    ids = [sf.Lead.create({"LastName": f"L{i}", "Company": "Co"})["id"] for i in range(5)]
    server.stop(signal.SIGKILL)  # no clean shutdown: only the journal has them

    server = CliServer(ca_env)
    try:
        rows = server.salesforce().query("SELECT Id FROM Lead")["records"]
        assert sorted(r["Id"] for r in rows) == sorted(ids)
    finally:
        server.stop()


def test_concurrent_clients_all_land_and_persist(ca_env: Path) -> None:
    server = CliServer(ca_env)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            sf = server.salesforce()
            for i in range(15):
                sf.Contact.upsert(f"External_Id__c/w{n}-{i}", {"LastName": f"W{n}"})
                sf.Contact.upsert(f"External_Id__c/shared-{i}", {"LastName": f"W{n}"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert server.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 4 * 15 + 15
    assert server.stop() == 0
    server = CliServer(ca_env)
    try:
        assert server.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 75
    finally:
        server.stop()


def test_a_second_server_cannot_take_the_same_data(ca_env: Path) -> None:
    server = CliServer(ca_env)
    try:
        second = run_cli("serve", "--port", "0", "--data", str(ca_env))
        assert second.returncode == 1
        assert "in use by another sandbox server" in second.stderr
        assert server.salesforce().query("SELECT Id FROM Organization")["totalSize"] == 1
    finally:
        server.stop()


def test_inspect_and_reset_talk_to_the_running_server(ca_env: Path) -> None:
    server = CliServer(ca_env)
    try:
        sf = server.salesforce()
        sf.Contact.create({"LastName": "One"})
        sf.Contact.create({"LastName": "Two"})
        stats = json.loads(run_cli("inspect", "--data", str(ca_env), "--json").stdout)
        assert stats["objects"]["Contact"] == 2
        assert stats["api_calls"] >= 2
        assert stats["limits"]["DailyApiRequests"]["Used"] == stats["api_calls"]
        server.admin("POST", "/sandbox/faults", json={"kind": "delay", "seconds": 0, "path": "/nothing"}
                     ).raise_for_status()
        table = run_cli("inspect", "--data", str(ca_env))
        assert table.returncode == 0
        assert "Contact" in table.stdout and "DailyBulkApiBatches" in table.stdout
        assert "fault-1" in table.stdout and "delay" in table.stdout
        assert run_cli("reset", "--data", str(ca_env)).returncode == 0
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    finally:
        server.stop()
    # reset is persisted too
    server = CliServer(ca_env)
    try:
        assert server.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    finally:
        server.stop()


def test_schema_file_and_drift_survive_a_restart(ca_env: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"objects": {"Contact": {"fields": [{"name": "Tier__c", "type": "string"}]}}}))
    server = CliServer(ca_env, "--schema", str(schema))
    sf = server.salesforce()
    server.admin("POST", "/sandbox/schema/Contact/fields", json={"name": "Score__c", "type": "double"}
                 ).raise_for_status()
    server.admin("DELETE", "/sandbox/schema/Contact/fields/Crm360_Segment__c").raise_for_status()
    rid = sf.Contact.create({"LastName": "S", "Tier__c": "gold", "Score__c": 7})["id"]
    assert server.stop() == 0

    server = CliServer(ca_env, "--schema", str(schema))
    try:
        sf = server.salesforce()
        record = sf.Contact.get(rid)
        assert (record["Tier__c"], record["Score__c"]) == ("gold", 7.0)
        assert "Crm360_Segment__c" not in record
    finally:
        server.stop()


def test_inspect_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    result = run_cli("inspect", "--data", str(tmp_path))
    assert result.returncode == 1
    assert "crm360-sandbox serve --data" in result.stderr
