"""`crm360-sandbox generate ...` and `crm360-sandbox load --data DIR`: the documented command forms."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sandbox.cli import app

runner = CliRunner()


def test_generate_with_the_documented_options_is_deterministic(tmp_path: Path) -> None:
    args = ["generate", "--customers", "150", "--days", "2", "--seed", "3"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--corrupt", "0.02"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--corrupt", "0.02"])
    assert second.exit_code == 0, second.output
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    assert a == b
    assert a["arguments"]["corrupt"] == 0.02 and a["arguments"]["customers"] == 150
    assert a["date_range"]["end"] == "2026-11-20"  # fixed default: output depends on the arguments only
    assert a["defects"]["kinds"].keys() - {"missing_field", "bad_timestamp", "wrong_type", "duplicate_delivery"}
    assert "planted" in first.output


def test_control_switches_and_old_option_names(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--customers", "100", "--days", "1", "--out", str(tmp_path),
                                 "--end-date", "2026-06-01", "--no-identity-mess", "--no-co-purchase",
                                 "--malformed-rate", "0", "--duplicate-rate", "0", "--late-rate", "0"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["arguments"]["identity_mess"] is False and manifest["arguments"]["co_purchase"] is False
    assert manifest["date_range"]["end"] == "2026-06-01"
    assert manifest["defects"]["rows"] == 0


def test_bad_arguments_are_refused_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--customers", "10", "--out", str(tmp_path), "--corrupt", "2"])
    assert result.exit_code != 0
    missing = runner.invoke(app, ["load", "--data", str(tmp_path / "nothing"), "--server", str(tmp_path / "s.json")])
    assert missing.exit_code == 1
    assert "does not exist" in " ".join(missing.output.split())
