"""Command line: ``crm360-sandbox generate|load`` (also ``python -m sandbox.generator generate|load``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sandbox.generator.generate import DEFAULT_END_DATE
from sandbox.generator.generate import generate as generate_company
from sandbox.generator.load import load as load_company

app = typer.Typer(help="A deterministic synthetic company for the crm360 sandbox.", no_args_is_help=True,
                  add_completion=False)
console = Console()


@app.command()
def generate(
    customers: Annotated[int, typer.Option(min=1, help="number of people")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="days of history and channel exports")] = 3,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    out: Annotated[Path, typer.Option(help="output directory")] = Path(".demo/company"),
    corrupt: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="RATE",
                                           help="share of channel rows given one defect of any kind; "
                                                "every planted defect is listed in truth/defects.csv")] = 0.0,
    end_date: Annotated[str, typer.Option(help="last day, YYYY-MM-DD (fixed default: output depends only "
                                               "on the arguments)")] = DEFAULT_END_DATE,
    identity_mess: Annotated[bool, typer.Option(
        "--identity-mess/--no-identity-mess",
        help="control switch: --no-identity-mess writes every identifier the same way everywhere")] = True,
    co_purchase: Annotated[bool, typer.Option(
        "--co-purchase/--no-co-purchase",
        help="control switch: --no-co-purchase removes companion products from baskets")] = True,
    history_days: Annotated[int, typer.Option(
        min=0, help="days of order history before the first day, delivered in the first day's Shopify "
                    "export (a shop's initial export)")] = 0,
    malformed_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                                  help="share of malformed rows per export")] = 0.005,
    duplicate_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of rows delivered twice")] = 0.002,
    late_rate: Annotated[float, typer.Option(min=0.0, max=1.0,
                                             help="share of events arriving 1-2 days late")] = 0.02,
) -> None:
    """Write CRM records, channel exports, ground truth and a manifest into OUT."""
    started = time.perf_counter()
    try:
        manifest = generate_company(customers, days, end_date, seed, out, malformed_rate, duplicate_rate,
                                    late_rate, corrupt=corrupt, identity_mess=identity_mess,
                                    co_purchase=co_purchase, history_days=history_days)
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
                   if k.startswith(f"inbox/{source}/") and k.endswith(".ndjson.gz"))
        table.add_row(f"inbox/{source} rows", str(rows))
    table.add_row("identity rows (truth/identity.csv)", str(sum(manifest["counts"]["identity"].values())))
    for kind, n in manifest["defects"]["kinds"].items():
        table.add_row(f"planted {kind} (truth/defects.csv)", str(n))
    console.print(table)
    rng = manifest["date_range"]
    console.print(f"history for {rng['start']} .. {rng['end']}; manifest: {out / 'manifest.json'}")


@app.command()
def load(
    data: Annotated[Path, typer.Option("--data", "--company", help="directory written by `generate`")] = Path(
        ".demo/company"),
    server: Annotated[Path, typer.Option(help="server.json written by the sandbox")] = Path(".sandbox/server.json"),
    through_day: Annotated[str | None, typer.Option(
        help="load the CRM as it stood at the end of this day (YYYY-MM-DD) instead of its final state")] = None,
    day: Annotated[str | None, typer.Option(
        help="load only the record versions written on this day (apply after --through-day of the day before)")
    ] = None,
) -> None:
    """Put the company's CRM records into a running sandbox Salesforce."""
    try:
        load_company(data, server, console=console, through_day=through_day, day=day)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
