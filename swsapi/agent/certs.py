"""Certificates from the store to HAProxy, which ends TLS (issue 15): once a pass, before the
routes render.

The store holds each certificate's chain and its key sealed to this host's key
(swsapi/sealing.py). The pass opens the keys with the private half (root-only, in tls_dir)
and writes each pair as one root-only PEM into HAProxy's TLS directory, with the crt-list that
names them: what HAProxy loads when it starts or reloads. It then tells the running HAProxy
through its admin socket what changed (module_utils/haproxy.py: set and commit, hitless; no
reload, no connection closed, no proxy rolled). The routes only need to know which domains
have a certificate (to listen on the proxies' https socket, redirect and send HSTS).
The API domain's pair (the bootstrap's, or the one acme.py ordered) goes the same way.
HAProxy being down changes nothing here: it loads the files when it is back.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from swsapi import sealing
from swsapi.agent import collection
from swsapi.agent.tlsroutes import EdgeTls
from swsapi.certificates import key_matches

log = logging.getLogger(__name__)

SEAL_KEY = "seal.key"
# In HAProxy's TLS directory (roles/sws_loadbalancer; the same path on the host and in its
# container): the list HAProxy's bind reads, the API domain's PEM, and the services' PEMs.
CRT_LIST = "crt-list"
API_PEM = "api.pem"
SERVICES_SUBDIR = "services"

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


@dataclass(frozen=True)
class EdgeCertificate:
    """One PEM HAProxy serves: its file, the names it is listed for, chain then key, and the
    leaf's SHA1 (what `show ssl cert` prints, to tell whether HAProxy has this one)."""

    path: Path
    names: str
    pem: bytes
    sha1: str


def edge_certificate(path: Path, names: str, chain_pem: bytes, key_pem: bytes):
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    pem = chain_pem.strip() + b"\n" + key_pem.strip() + b"\n"
    return EdgeCertificate(path, names, pem, leaf.fingerprint(hashes.SHA1()).hex().upper())


def open_stored(stored: list[StoredCertificate], edge_dir: Path, private_key) -> list:
    """The store's certificates whose keys open, as HAProxy's PEMs."""
    opened = []
    for cert in stored:
        try:
            key_pem = sealing.open_box(private_key, cert.key_sealed)
            path = edge_dir / SERVICES_SUBDIR / f"{cert.domain}.pem"
            opened.append(edge_certificate(path, cert.domain, cert.chain_pem.encode(), key_pem))
        except (sealing.SealError, ValueError) as err:
            log.warning("certificate of %s left out: %s", cert.domain, err)
    return opened


def crt_list_text(edge_dir: Path, api_domain: str, services: list) -> str:
    """The crt-list file: the API domain's PEM first, then each service's, one name each.
    HAProxy refuses a handshake for any other name (strict-sni in haproxy.cfg)."""
    lines = [f"{edge_dir / API_PEM} {api_domain}"]
    lines += [f"{c.path} {c.names}" for c in sorted(services, key=lambda c: c.names)]
    return "".join(line + "\n" for line in lines)


def write_files(edge_dir: Path, wanted: list, crt_list: str) -> list[str]:
    """Write the PEMs and the crt-list (root-only), and remove the services' PEMs no longer
    wanted: the domains removed."""
    for cert in wanted:
        write_private(cert.path, cert.pem)
    write_private(edge_dir / CRT_LIST, crt_list.encode())
    keep = {c.path for c in wanted}
    removed = []
    for path in sorted((edge_dir / SERVICES_SUBDIR).glob("*.pem")):
        if path not in keep:
            path.unlink(missing_ok=True)
            removed.append(path.name.removesuffix(".pem"))
    return removed


def tell_haproxy(socket: Path, edge_dir: Path, wanted: list) -> tuple[list, list]:
    """Bring the running HAProxy's certificates in step with wanted, through its admin socket:
    (names added or renewed, problems). A certificate HAProxy serves but nobody wants any more
    goes (only the services'; the API domain's is replaced, never removed)."""
    haproxy = collection.haproxy()
    crt_list = str(edge_dir / CRT_LIST)
    changed, problems = [], []
    try:
        listed = haproxy.crt_list_paths(socket, crt_list)
    except OSError as err:
        # HAProxy is not running (down, or recreated later in this pass). It loads the files
        # sync() has written from its crt-list as it starts, and the control plane's outcome
        # reports it down: no problem of the certificates' own.
        log.info("HAProxy not told of certificates (it loads them as it starts): %s", err)
        return [], []
    for cert in wanted:
        path = str(cert.path)
        try:
            served = haproxy.cert_sha1(socket, path)  # None: HAProxy has none by this path
            if path in listed and served == cert.sha1:
                continue
            haproxy.put_cert(socket, path, cert.pem.decode(), new=served is None)
            if path not in listed:
                haproxy.add_to_crt_list(socket, crt_list, path, cert.names)
            changed.append(cert.names)
        except (OSError, ValueError) as err:
            problems.append(f"certificate of {cert.names} not given to HAProxy: {err}")
    services = str(edge_dir / SERVICES_SUBDIR) + "/"
    for path in sorted(listed - {str(c.path) for c in wanted}):
        if path.startswith(services):
            try:
                haproxy.remove_cert(socket, crt_list, path)
            except (OSError, ValueError) as err:
                problems.append(f"certificate {path} not taken out of HAProxy: {err}")
    return changed, problems


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


def api_certificate(tls_dir: Path, api_domain: str, edge_dir: Path):
    """The API domain's PEM for HAProxy, from the host's TLS directory (the bootstrap's pair, or
    the one acme.py ordered); None when there is no matching pair (HAProxy keeps what it has)."""
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
    return edge_certificate(edge_dir / API_PEM, api_domain, chain, key_pem)


def sync(
    conn, tls_dir: Path, edge_dir: Path, socket: Path, edge: EdgeTls, api_domain: str | None
) -> tuple[EdgeTls, dict, list]:
    """Install the store's certificates (and the API domain's) in HAProxy: the edge with the
    domains that have one, what changed, and the problems met."""
    private_key = load_private_key(tls_dir)
    if private_key is None or not api_domain:
        # No HTTPS for services until the bootstrap made the key; and no crt-list without the
        # API domain's certificate first (it is HAProxy's default one).
        return edge, {}, []
    stored = read_certificates(conn)
    services = open_stored(stored, edge_dir, private_key)
    api = api_certificate(tls_dir, api_domain, edge_dir)
    wanted = [*([api] if api else []), *services]
    removed = write_files(edge_dir, wanted, crt_list_text(edge_dir, api_domain, services))
    changed, problems = tell_haproxy(socket, edge_dir, wanted)
    changes = {}
    if changed:
        changes["certificates_installed"] = changed
    if removed:
        changes["certificates_removed"] = removed
    opened = {c.names for c in services}
    served = {s.domain: s.fingerprint for s in stored if s.domain in opened}
    return dataclasses.replace(edge, certificates=served), changes, problems
