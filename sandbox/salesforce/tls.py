"""The sandbox's own certificate authority and server certificate, made once and kept on disk.

Clients trust ``ca.pem`` only: ``session.trust_env = False; session.verify = <ca.pem>``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

CA_FILE = "salesforce_ca.pem"
CA_KEY_FILE = "salesforce_ca_key.pem"
CERT_FILE = "salesforce_server.pem"
KEY_FILE = "salesforce_server_key.pem"


def ensure_certificates(state_dir: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate chain, server key), created on first run."""
    ca_path, cert_path, key_path = state_dir / CA_FILE, state_dir / CERT_FILE, state_dir / KEY_FILE
    if not (ca_path.exists() and cert_path.exists() and key_path.exists()):
        state_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="crmsync sandbox", organization_unit_name="Salesforce emulator")
        server = ca.issue_cert("127.0.0.1", "localhost", "::1")
        ca.cert_pem.write_to_path(str(ca_path))
        (state_dir / CA_KEY_FILE).write_bytes(ca.private_key_pem.bytes())
        (state_dir / CA_KEY_FILE).chmod(0o600)
        with cert_path.open("wb") as chain:
            for blob in server.cert_chain_pems:
                chain.write(blob.bytes())
        key_path.write_bytes(server.private_key_pem.bytes())
        key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context
