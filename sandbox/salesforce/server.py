"""Run the sandbox: TLS files, a listening socket, uvicorn, and ``server.json`` once it accepts requests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path
from types import FrameType

import uvicorn

from .app import create_app
from .config import SandboxConfig
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


def serve(state_dir: Path, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
          public_host: str | None = None) -> None:
    """Serve until SIGTERM/SIGINT; ``server.json`` exists exactly while the server accepts requests.

    ``public_host`` is the name clients use (e.g. ``sandbox-salesforce`` in docker-compose when
    listening on 0.0.0.0): it goes into the certificate and the instance URL login returns.
    """
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    info_path = state_dir / SERVER_FILE
    info_path.unlink(missing_ok=True)
    public = public_host or host
    tls = ensure_certificates(state_dir, sorted({host, public, "127.0.0.1", "localhost"} - {"0.0.0.0", "::"}))
    print(f"CA certificate: {tls.ca}", flush=True)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    actual_port = sock.getsockname()[1]

    state = SandboxState(SandboxConfig.from_env())
    url_host = f"[{public}]" if ":" in public else public
    state.base_url = f"https://{url_host}:{actual_port}"
    config = uvicorn.Config(create_app(state), ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key),
                            log_level=log_level, lifespan="off", access_log=False, timeout_graceful_shutdown=2)
    server = _Server(config)
    info = server_info(url_host, actual_port, tls.ca)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        tmp = info_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(info_path)
        print(f"Salesforce sandbox listening on {info['instance_url']} (login domain {info['domain']})", flush=True)

    async def main() -> None:
        watcher = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()

    try:
        asyncio.run(main())
    finally:
        try:
            if json.loads(info_path.read_text()).get("pid") == os.getpid():
                info_path.unlink()
        except (OSError, ValueError):
            pass
        sock.close()
