"""`crm360-sandbox serve|reset|inspect`: run and look at the local Salesforce org.

    crm360-sandbox serve --port 8443 --data .sandbox [--schema schema.yml]
    crm360-sandbox inspect --data .sandbox [--json]
    crm360-sandbox reset --data .sandbox

``serve`` prints the settings a client needs (``KEY=value``, one per line, on stdout; everything
else goes to stderr), then serves until SIGTERM/SIGINT. The org's records live in ``DIR/org/`` and
survive restarts. ``reset`` and ``inspect`` find the running server through ``DIR/server.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True)

DataOption = Annotated[Path, typer.Option(help="the org's folder: CA, certificates, server.json, records (org/)")]


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port to listen on; 0 picks a free one")] = 8443,
    data: DataOption = Path(".sandbox"),
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    public_host: Annotated[str | None, typer.Option(help="host name clients use, if not --host")] = None,
    schema: Annotated[Path | None, typer.Option(help="JSON/YAML file of custom fields and objects")] = None,
    persist: Annotated[bool, typer.Option(help="keep records in DATA/org/ across restarts")] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Print the client settings (KEY=value), then serve the sandbox org over HTTPS until SIGTERM/SIGINT."""
    from sandbox.salesforce.config import SandboxConfig
    from sandbox.salesforce.custom import SchemaError
    from sandbox.salesforce.persist import DataDirInUse
    from sandbox.salesforce.server import client_settings
    from sandbox.salesforce.server import serve as run_server

    def announce(info: dict[str, object], config: SandboxConfig) -> None:
        for key, value in client_settings(info, config).items():
            typer.echo(f"{key}={value}")

    if schema is not None and not schema.exists():
        typer.echo(f"error: schema file {schema} does not exist", err=True)
        raise typer.Exit(2)
    try:
        run_server(data, host=host, port=port, log_level=log_level, public_host=public_host, persist=persist,
                   schema_file=schema, on_listening=announce)
    except (DataDirInUse, SchemaError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from exc


def _server(data: Path) -> dict[str, Any]:
    path = data / "server.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        typer.echo(f"error: no server is running for {data} ({path} does not exist); start one with "
                   f"`crm360-sandbox serve --data {data}`", err=True)
        raise typer.Exit(1) from None


def _call(data: Path, method: str, path: str) -> Any:
    import requests

    server = _server(data)
    session = requests.Session()
    session.trust_env = False  # the sandbox's own CA, whatever REQUESTS_CA_BUNDLE says
    session.verify = server["ca"]
    try:
        response = session.request(method, f"{server['instance_url']}{path}", timeout=60)
    except requests.ConnectionError as exc:
        typer.echo(f"error: the server in {data}/server.json ({server['instance_url']}) does not answer: {exc}",
                   err=True)
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        typer.echo(f"error: {method} {path} answered HTTP {response.status_code}: {response.text[:500]}", err=True)
        raise typer.Exit(1)
    return response.json()


@app.command()
def reset(data: DataOption = Path(".sandbox")) -> None:
    """Empty every object of the running org (the org, its user and the schema file's fields stay)."""
    _call(data, "POST", "/sandbox/reset")
    typer.echo(f"reset the org served from {data}")


@app.command()
def inspect(
    data: DataOption = Path(".sandbox"),
    as_json: Annotated[bool, typer.Option("--json", help="print the raw JSON")] = False,
) -> None:
    """Record counts per object, API calls served, limits and active faults of the running org."""
    stats = _call(data, "GET", "/sandbox/stats")
    if as_json:
        typer.echo(json.dumps(stats, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    objects = Table(title="records")
    for column in ("object", "live", "deleted"):
        objects.add_column(column, justify="right" if column != "object" else "left")
    for name, count in stats["objects"].items():
        objects.add_row(name, f"{count:,}", f"{stats['deleted'].get(name, 0):,}")
    console.print(objects)
    limits = Table(title="limits (rolling 24 h)")
    for column in ("limit", "used", "max", "remaining"):
        limits.add_column(column, justify="right" if column != "limit" else "left")
    for name, pair in stats.get("limits", {}).items():
        limits.add_row(name, f"{pair['Used']:,}", f"{pair['Max']:,}", f"{max(pair['Max'] - pair['Used'], 0):,}")
    console.print(limits)
    rules = _call(data, "GET", "/sandbox/faults")["faults"]
    if rules:
        faults = Table(title="fault rules")
        for column in ("id", "kind", "rule", "fired"):
            faults.add_column(column)
        for rule in rules:
            spec = {k: v for k, v in rule.items() if k not in {"id", "kind", "fired"}}
            faults.add_row(rule["id"], rule["kind"], json.dumps(spec), str(rule["fired"]))
        console.print(faults)
    console.print(f"API calls: {stats['api_calls']:,}  requests served: {stats['requests_served']:,}  "
                  f"bulk jobs: {stats['bulk_jobs']}  sessions: {stats['sessions']}  "
                  f"faults: {stats.get('faults', 0)}  persistent: {stats.get('persistent', False)}")
