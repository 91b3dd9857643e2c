"""Certificates from the store to the proxies (issue 15), once a pass, before the routes render.

The store holds each certificate's chain and its key sealed to this host's key
(swsapi/sealing.py). The pass opens the keys with the private half (root-only, in tls_dir),
writes chain and key root-only into every proxy's configuration volume (tls/services/), and
hands render the domains that now have one, with their fingerprints: a new or renewed
certificate changes the routes, so the pass rolls the proxies as for any route change.
Files of certificates the store no longer holds go once no live route names them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swsapi import sealing
from swsapi.agent.dockerapi import DockerApi, DockerError
from swsapi.agent.tlsroutes import CERTIFICATES_DIR, EdgeTls

log = logging.getLogger(__name__)

# Where the proxies mount their configuration volume (roles/sws_proxy: sws_proxy_conf_dir).
PROXY_CONF_DIR = "/etc/nginx/sws"
SERVICES_SUBDIR = CERTIFICATES_DIR.removeprefix(PROXY_CONF_DIR + "/")
SEAL_KEY = "seal.key"

_QUERY = """
SELECT c.domain, c.chain_pem, c.key_sealed, c.fingerprint
FROM certificates c JOIN services s ON s.id = c.service_id
WHERE s.status <> 'deleting' AND c.chain_pem IS NOT NULL AND c.key_sealed IS NOT NULL
  AND c.not_after > now()
ORDER BY c.domain
"""


@dataclass(frozen=True)
class StoredCertificate:
    domain: str
    chain_pem: str
    key_sealed: bytes
    fingerprint: str


def read_certificates(conn) -> list[StoredCertificate]:
    with conn.cursor() as cur:
        cur.execute(_QUERY)
        rows = cur.fetchall()
    conn.commit()
    return [StoredCertificate(d, c, bytes(k), f) for d, c, k, f in rows]


def proxy_conf_dirs(proxies: tuple[str, ...], docker: DockerApi | None = None) -> list[Path]:
    """Each proxy's configuration volume on the host (where it is mounted from)."""
    docker = docker or DockerApi(timeout=10)
    found = []
    for proxy in proxies:
        try:
            mounts = docker.inspect(proxy).get("Mounts") or []
        except DockerError:
            continue  # a missing proxy gets its files when it is back (the next pass)
        for mount in mounts:
            if mount.get("Destination") == PROXY_CONF_DIR and mount.get("Source"):
                found.append(Path(mount["Source"]))
    return found


def write_private(path: Path, data: bytes) -> bool:
    """Write a root-only file atomically; False when it already held exactly this."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return True


def install(stored: list[StoredCertificate], conf_dirs: list[Path], private_key) -> dict[str, str]:
    """Write each certificate that opens into every proxy's volume: {domain: fingerprint}."""
    installed: dict[str, str] = {}
    for cert in stored:
        try:
            key_pem = sealing.open_box(private_key, cert.key_sealed)
        except sealing.SealError as err:
            log.warning("certificate of %s left out: %s", cert.domain, err)
            continue
        for conf in conf_dirs:
            directory = conf / SERVICES_SUBDIR
            write_private(directory / f"{cert.domain}.crt", cert.chain_pem.encode())
            write_private(directory / f"{cert.domain}.key", key_pem)
        installed[cert.domain] = cert.fingerprint
    return installed


def remove_stale(conf_dirs: list[Path], keep: set[str]) -> list[str]:
    """Remove certificate files of domains neither kept nor named by a proxy's live routes."""
    removed = []
    for conf in conf_dirs:
        live = _read(conf / "live" / "routes.conf")
        for path in sorted((conf / SERVICES_SUBDIR).glob("*.crt")):
            domain = path.name.removesuffix(".crt")
            if domain in keep or f"{CERTIFICATES_DIR}/{domain}.crt;" in live:
                continue
            for stale in (path, path.with_suffix(".key")):
                stale.unlink(missing_ok=True)
            removed.append(domain)
    return sorted(set(removed))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def load_private_key(tls_dir: Path):
    """The host's sealing key, or None (no HTTPS for services until the bootstrap made it)."""
    try:
        return sealing.private_key_from_pem((tls_dir / SEAL_KEY).read_bytes())
    except OSError:
        return None


def sync(conn, proxies: tuple[str, ...], tls_dir: Path, edge: EdgeTls) -> tuple[EdgeTls, dict]:
    """Install the store's certificates in the proxies; the edge with them, and what changed."""
    private_key = load_private_key(tls_dir)
    if private_key is None or not proxies:
        return edge, {}
    conf_dirs = proxy_conf_dirs(proxies)
    installed = install(read_certificates(conn), conf_dirs, private_key)
    removed = remove_stale(conf_dirs, set(installed))
    changes = {"certificates_removed": removed} if removed else {}
    return EdgeTls(edge.https_socket, edge.https_port, edge.default_source, installed), changes
