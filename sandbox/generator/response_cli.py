"""Command line: ``crm360-sandbox respond`` (also ``python -m sandbox.generator.response_cli``): the
market's response to crm360's campaigns, with a planted lift (`sandbox.generator.response`)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from sandbox.generator.response import DRAWS, SegmentPlan, population_from_rows, simulate

app = typer.Typer(help="The market's response to crm360's campaigns.", no_args_is_help=True, add_completion=False)


@app.command()
def respond(
    plan: Annotated[Path, typer.Option(help="JSON list of {segment_name, campaign_name, response_rate, base_rate, "
                                            "lift}")],
    population: Annotated[Path, typer.Option(help="CSV with segment_name, person_id, record_id, is_holdout: every "
                                                  "member and holdout of the planned segments")],
    at: Annotated[str, typer.Option(help="when the market responds (ISO timestamp with zone, e.g. "
                                         "2026-11-19T12:00:00+00:00); the org's clock is set to it")],
    server: Annotated[Path, typer.Option(help="server.json written by the sandbox")] = Path(".sandbox/server.json"),
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    draw: Annotated[str, typer.Option(help=f"{' or '.join(DRAWS)}: exactly round(rate x n) per arm, or each "
                                           "person independently")] = "exact",
    out: Annotated[Path, typer.Option(help="where the ground truth JSON goes")] = Path(
        ".demo/company/truth/response.json"),
) -> None:
    """Mark campaign members responded and create Closed Won Opportunities with a planted lift over holdouts."""
    try:
        plans = [SegmentPlan(**p) for p in json.loads(plan.read_text())]
        with population.open(newline="") as handle:
            people = population_from_rows(csv.DictReader(handle))
        truth = simulate(json.loads(server.read_text()), plans, people, at=dt.datetime.fromisoformat(at), seed=seed,
                         draw=draw, out=out)
    except (ValueError, FileNotFoundError, TypeError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for s in truth["segments"]:
        realised = "n/a" if s["realised_lift"] is None else f"{s['realised_lift']:+.3f}"
        typer.echo(f"{s['segment_name']}: {s['members']} members ({s['member_responses']} responded, "
                   f"{s['member_conversions']} bought), {s['holdouts']} holdouts ({s['holdout_conversions']} bought); "
                   f"planted lift {s['lift']:+.2f}, realised {realised}")
    typer.echo(f"ground truth: {out}")


if __name__ == "__main__":
    app()
