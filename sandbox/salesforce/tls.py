"""A local certificate authority and server certificate made with trustme, kept in the state directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import trustme

_META = "tls.json"


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def ensure_certificates(state_dir: Path, hosts: list[str]) -> TlsFiles:
    """Create (first start) or reuse the CA in ``state_dir``; issue a server cert covering ``hosts``."""
    ca_path = state_dir / "ca.pem"
    ca_key_path = state_dir / "ca-key.pem"
    cert_path = state_dir / "server.pem"
    key_path = state_dir / "server-key.pem"
    meta_path = state_dir / _META
    wanted = sorted(set(hosts))
    if ca_path.exists() and ca_key_path.exists():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), ca_key_path.read_bytes())
    else:
        ca = trustme.CA(organization_name="crm360 sandbox")
        ca.cert_pem.write_to_path(str(ca_path))
        ca.private_key_pem.write_to_path(str(ca_key_path))
        ca_key_path.chmod(0o600)
        cert_path.unlink(missing_ok=True)
    current = json.loads(meta_path.read_text()).get("hosts") if meta_path.exists() else None
    if current != wanted or not cert_path.exists() or not key_path.exists():
        issued = ca.issue_cert(*wanted)
        issued.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        cert_path.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        meta_path.write_text(json.dumps({"hosts": wanted}))
    return TlsFiles(ca=ca_path, cert=cert_path, key=key_path)
