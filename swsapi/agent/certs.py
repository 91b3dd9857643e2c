"""Certificates from the store to the proxies (issue 15), once a pass, before the routes render.

The store holds each certificate's chain and its key sealed to this host's key
(swsapi/sealing.py). The pass opens the keys with the private half (root-only, in tls_dir),
writes chain and key root-only into every proxy's configuration volume (tls/services/), and
hands render the domains that now have one, with their fingerprints: a new or renewed
certificate changes the routes, so the pass rolls the proxies as for any route change.
Files of certificates the store no longer holds go once no live route names them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from swsapi import sealing
from swsapi.agent.dockerapi import DockerApi, DockerError
from swsapi.agent.proxyfiles import API_TLS_DIR, CERTIFICATES_DIR, CONF_DIR, on_host
from swsapi.agent.tlsroutes import EdgeTls
from swsapi.certificates import key_matches, leaf_fingerprint

log = logging.getLogger(__name__)

SERVICES_SUBDIR = on_host(CERTIFICATES_DIR)
SEAL_KEY = "seal.key"
HOST_SUBDIR = on_host(API_TLS_DIR)  # the API domain's pair (roles/sws_proxy, tls.conf.j2)

# A certificate for a domain its service no longer has is not served (acme.py orders anew).
_QUERY = """
SELECT c.domain, c.chain_pem, c.key_sealed, c.fingerprint
FROM certificates c JOIN services s ON s.id = c.service_id
WHERE s.status <> 'deleting' AND c.chain_pem IS NOT NULL AND c.key_sealed IS NOT NULL
  AND c.not_after > now() AND c.domain = s.domain
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
            if mount.get("Destination") == CONF_DIR and mount.get("Source"):
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


def api_pair(tls_dir: Path, api_domain: str) -> tuple[Path, Path]:
    """The API domain's certificate and key on the host, as the bootstrap names them
    (roles/sws_tls) and acme.py replaces them."""
    return tls_dir / f"api-{api_domain}.crt", tls_dir / f"api-{api_domain}.key"


def install_api(tls_dir: Path, api_domain: str | None, conf_dirs: list[Path]) -> str | None:
    """The API domain's certificate, from the host's TLS directory (the bootstrap's, or the
    one acme.py ordered) into every proxy's volume: its fingerprint, or None when there is no
    matching pair (the proxies keep what they have; nginx -t would refuse a mismatched one)."""
    if not api_domain:
        return None
    crt, key_path = api_pair(tls_dir, api_domain)
    try:
        chain = crt.read_bytes()
        key_pem = key_path.read_bytes()
        leaf = x509.load_pem_x509_certificates(chain)[0]
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (OSError, ValueError) as err:
        log.warning("API certificate left as it is: %s", err)
        return None
    if not key_matches(leaf, key):
        log.warning("API certificate left as it is: %s does not match its certificate", key_path)
        return None
    for conf in conf_dirs:
        write_private(conf / HOST_SUBDIR / "api.key", key_pem)
        write_private(conf / HOST_SUBDIR / "api.crt", chain)
    return leaf_fingerprint(leaf)


def sync(
    conn, proxies: tuple[str, ...], tls_dir: Path, edge: EdgeTls, api_domain: str | None = None
) -> tuple[EdgeTls, dict]:
    """Install the store's certificates (and the API domain's) in the proxies; the edge with
    them, and what changed."""
    private_key = load_private_key(tls_dir)
    if private_key is None or not proxies:
        return edge, {}
    conf_dirs = proxy_conf_dirs(proxies)
    installed = install(read_certificates(conn), conf_dirs, private_key)
    removed = remove_stale(conf_dirs, set(installed))
    changes = {"certificates_removed": removed} if removed else {}
    api = install_api(tls_dir, api_domain, conf_dirs)
    return dataclasses.replace(edge, certificates=installed, api_certificate=api), changes
