"""Command line: ``python -m sandbox.salesforce serve --state-dir .sandbox [--host 127.0.0.1] [--port 0]
[--persist] [--schema FILE]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.salesforce",
                                     description="A local HTTPS server that speaks the Salesforce API.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the sandbox org until SIGTERM/SIGINT")
    run.add_argument("--state-dir", type=Path, default=Path(".sandbox"),
                     help="where ca.pem, the server certificate and server.json live (default .sandbox)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default 0)")
    run.add_argument("--public-host", default=None,
                     help="host name clients use, if not --host (put in the certificate and instance URL)")
    run.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    run.add_argument("--persist", action="store_true",
                     help="keep the org's records in <state-dir>/org/ across restarts (default: in memory only)")
    run.add_argument("--schema", type=Path, default=None,
                     help="JSON/YAML file declaring custom fields and objects (see sandbox/salesforce/custom.py)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.state_dir, host=args.host, port=args.port, log_level=args.log_level,
              public_host=args.public_host, persist=args.persist, schema_file=args.schema)


if __name__ == "__main__":
    main()
