"""`crm360-sandbox serve|reset|inspect`: run and look at the local Salesforce org."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port to listen on; 0 picks a free one")] = 8443,
    data: Annotated[Path, typer.Option(help="state folder: CA, certificates, server.json")] = Path(".sandbox"),
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    public_host: Annotated[str | None, typer.Option(help="host name clients use, if not --host")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve the sandbox org over HTTPS until SIGTERM/SIGINT."""
    from sandbox.salesforce.server import serve as run_server

    run_server(data, host=host, port=port, log_level=log_level, public_host=public_host)
