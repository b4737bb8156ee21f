"""Run the sandbox: TLS files, a listening socket, uvicorn, and ``server.json`` once it accepts requests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from .app import create_app
from .config import SandboxConfig
from .persist import Persistence
from .state import SandboxState
from .tls import ensure_certificates

SERVER_FILE = "server.json"


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT ends it with exit code 0 instead of re-raising the signal."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def server_info(host: str, port: int, ca: Path) -> dict[str, object]:
    """What ``server.json`` holds: how clients reach and trust this server."""
    base = f"https://{host}:{port}"
    return {"pid": os.getpid(), "host": host, "port": port, "instance_url": base, "ca": str(ca),
            "domain": f"{host}:{port}/login"}


def client_settings(info: dict[str, object], config: SandboxConfig) -> dict[str, str]:
    """KEY=value settings a client needs to reach this org (printed by ``crm360-sandbox serve``)."""
    connection = {"conn_type": "salesforce", "login": config.username, "password": config.password,
                  "extra": {"security_token": config.security_token, "domain": info["domain"]}}
    return {
        "SF_INSTANCE_URL": str(info["instance_url"]),
        "SF_DOMAIN": str(info["domain"]),
        "SF_USERNAME": config.username,
        "SF_PASSWORD": config.password,
        "SF_SECURITY_TOKEN": config.security_token,
        "SF_CLIENT_ID": config.client_id,
        "SF_CLIENT_SECRET": config.client_secret,
        "REQUESTS_CA_BUNDLE": str(info["ca"]),
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(connection, separators=(",", ":")),
    }


def serve(state_dir: Path, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
          public_host: str | None = None, *, persist: bool = False, schema_file: Path | None = None,
          on_listening: Callable[[dict[str, object], SandboxConfig], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; ``server.json`` exists exactly while the server accepts requests.

    ``public_host`` is the name clients use (e.g. ``sandbox-salesforce`` in docker-compose when
    listening on 0.0.0.0): it goes into the certificate and the instance URL login returns.
    ``persist`` keeps the records in ``state_dir/org/`` across restarts (see ``persist.py``);
    ``schema_file`` declares custom fields and objects (see ``custom.py``). ``on_listening`` is
    called with ``server.json``'s content once the socket is bound, before requests are served.
    """
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / SERVER_FILE
    persistence = Persistence(state_dir) if persist else None
    info_path.unlink(missing_ok=True)
    public = public_host or host
    tls = ensure_certificates(state_dir, sorted({host, public, "127.0.0.1", "localhost"} - {"0.0.0.0", "::"}))
    print(f"CA certificate: {tls.ca}", file=sys.stderr if on_listening else sys.stdout, flush=True)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    actual_port = sock.getsockname()[1]

    try:
        state = SandboxState(SandboxConfig.from_env(), persistence=persistence,
                             schema_file=Path(schema_file).resolve() if schema_file else None)
    except BaseException:
        sock.close()
        if persistence is not None:
            persistence.close()
        raise
    url_host = f"[{public}]" if ":" in public else public
    state.base_url = f"https://{url_host}:{actual_port}"
    config = uvicorn.Config(create_app(state), ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key),
                            log_level=log_level, lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    server = _Server(config)
    info = server_info(url_host, actual_port, tls.ca)

    # A SIGTERM/SIGINT before uvicorn installs its handlers (e.g. right after the settings are
    # printed) still ends the server cleanly: remember it and stop as soon as serving starts.
    def early_exit(sig: int, frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, early_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
    if on_listening is not None:
        on_listening(info, state.config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        tmp = info_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(info_path)
        print(f"Salesforce sandbox listening on {info['instance_url']} (login domain {info['domain']})",
              file=sys.stderr if on_listening else sys.stdout, flush=True)

    async def main() -> None:
        watcher = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()

    try:
        if not server.should_exit:
            asyncio.run(main())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            if json.loads(info_path.read_text()).get("pid") == os.getpid():
                info_path.unlink()
        except (OSError, ValueError):
            pass
        sock.close()
        state.close()
