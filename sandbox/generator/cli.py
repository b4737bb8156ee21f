"""Command line: ``python -m sandbox.generator generate|load``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sandbox.generator.generate import generate as generate_company
from sandbox.generator.load import load as load_company

app = typer.Typer(help="A deterministic synthetic company for the crm360 sandbox.", no_args_is_help=True,
                  add_completion=False)
console = Console()


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="number of people")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="days of channel exports")] = 3,
    end_date: Annotated[str, typer.Option(help="last export day, YYYY-MM-DD")] = dt.date.today().isoformat(),
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    out: Annotated[Path, typer.Option(help="output directory")] = Path(".demo/company"),
    malformed_rate: Annotated[float, typer.Option(help="share of malformed rows per export")] = 0.005,
    duplicate_rate: Annotated[float, typer.Option(help="share of rows delivered twice")] = 0.002,
    late_rate: Annotated[float, typer.Option(help="share of events arriving 1-2 days late")] = 0.02,
) -> None:
    """Write CRM records, channel exports, ground truth and a manifest into OUT."""
    started = time.perf_counter()
    try:
        manifest = generate_company(customers, days, end_date, seed, out, malformed_rate, duplicate_rate,
                                    late_rate)
    except (ValueError, FileExistsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    seconds = time.perf_counter() - started
    table = Table(title=f"synthetic company in {out} ({seconds:.1f}s)", show_lines=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("persons (truth/persons.csv)", str(manifest["counts"]["persons"]))
    for obj, n in manifest["counts"]["crm"].items():
        table.add_row(f"crm/{obj}.ndjson", str(n))
    for source in ("sendgrid", "segment", "shopify"):
        rows = sum(v["rows"] for k, v in manifest["files"].items()
                   if k.startswith(f"inbox/{source}/") and not k.endswith("products.ndjson"))
        table.add_row(f"inbox/{source} rows", str(rows))
    table.add_row("identity rows (truth/identity.csv)", str(sum(manifest["counts"]["identity"].values())))
    console.print(table)
    rng = manifest["date_range"]
    console.print(f"exports for {rng['start']} .. {rng['end']}; manifest: {out / 'manifest.json'}")


@app.command()
def load(
    company: Annotated[Path, typer.Option(help="directory written by `generate`")] = Path(".demo/company"),
    server: Annotated[Path, typer.Option(help="server.json written by the sandbox")] = Path(".sandbox/server.json"),
) -> None:
    """Seed the sandbox Salesforce with the company's CRM records."""
    try:
        load_company(company, server, console=console)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
