"""Start the sandbox as a subprocess and hand back how to reach it (for tests, demos and benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .server import SERVER_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]


class SandboxProcess:
    """A running sandbox server: its URLs, CA file, and :meth:`stop`. Also a context manager."""

    def __init__(self, process: subprocess.Popen[bytes], state_dir: Path, info: dict[str, Any], log_path: Path):
        self.process = process
        self.state_dir = state_dir
        self.info = info
        self.log_path = log_path

    @property
    def instance_url(self) -> str:
        return str(self.info["instance_url"])

    @property
    def ca_path(self) -> str:
        return str(self.info["ca"])

    @property
    def domain(self) -> str:
        return str(self.info["domain"])

    @property
    def port(self) -> int:
        return int(self.info["port"])

    @property
    def host(self) -> str:
        return str(self.info["host"])

    @property
    def server_file(self) -> Path:
        return self.state_dir / SERVER_FILE

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server, e.g. ``url("/sandbox/stats")``."""
        return f"{self.instance_url}/{path.lstrip('/')}"

    def stop(self, timeout: float = 120.0) -> int | None:
        """Send SIGTERM, wait for a clean exit (SIGKILL after ``timeout`` s); return the exit code.

        A persistent org compacts its journal on the way out, which takes a while for millions of rows.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_sandbox(state_dir: str | os.PathLike[str], port: int = 0, *, host: str = "127.0.0.1",
                  env: dict[str, str] | None = None, timeout: float = 30.0, persist: bool = False,
                  schema: str | os.PathLike[str] | None = None) -> SandboxProcess:
    """Run ``python -m sandbox.salesforce serve`` and wait until it has written ``server.json``.

    ``env`` adds environment variables for the server (e.g. ``SANDBOX_SF_DAILY_API_LIMIT``). Output goes
    to ``<state_dir>/server.log``. ``persist`` keeps records in ``<state_dir>/org/`` across restarts;
    ``schema`` is a schema file of custom fields. Loading a large persisted org takes longer than
    ``timeout``'s default: raise it.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    info_path = state / SERVER_FILE
    info_path.unlink(missing_ok=True)
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), child_env.get("PYTHONPATH", "")] if p)
    child_env.update(env or {})
    log_path = state / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.salesforce", "serve", "--state-dir", str(state), "--host", host,
             "--port", str(port), *(["--persist"] if persist else []),
             *(["--schema", str(Path(schema).resolve())] if schema else [])],
            stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=str(REPO_ROOT),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Salesforce sandbox exited with code {process.returncode} before it was ready; "
                               f"see {log_path}:\n{log_path.read_text(errors='replace')[-2000:]}")
        if info_path.exists():
            try:
                info = json.loads(info_path.read_text())
            except ValueError:
                info = {}
            if info.get("pid") == process.pid:
                return SandboxProcess(process, state, info, log_path)
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise TimeoutError(f"the Salesforce sandbox did not write {info_path} within {timeout} s; see {log_path}")
