"""Certificates from the store to HAProxy, which ends TLS (issue 15): observed once a pass
(observe: the store's, opened, and what HAProxy serves), installed by the pass's run (install).

The store holds each certificate's chain and its key sealed to this host's key
(swscore/sealing.py). The pass opens the keys with the private half (root-only, in tls_dir)
and writes each pair as one root-only PEM into HAProxy's TLS directory, with the crt-list that
names them: what HAProxy loads when it starts or reloads. It then tells the running HAProxy
through its admin socket what changed (module_utils/haproxy.py: set and commit, hitless; no
reload, no connection closed, no proxy rolled). The routes only need to know which domains
have a certificate (to listen on the proxies' https socket, redirect and send HSTS).
The API domain's pair (the bootstrap's, or the one acme.py ordered) goes the same way.
HAProxy being down changes nothing here: it loads the files when it is back.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from swsagent import collection
from swscore import sealing
from swscore.certificates import key_matches
from swscore.contract import ServiceStatus

log = logging.getLogger(__name__)

SEAL_KEY = "seal.key"
# In HAProxy's TLS directory (roles/sws_loadbalancer; the same path on the host and in its
# container): the list HAProxy's bind reads, the API domain's PEM, and the services' PEMs.
CRT_LIST = "crt-list"
API_PEM = "api.pem"
SERVICES_SUBDIR = "services"

# One certificate a domain a service holds (issue 27: its domain, aliases and redirects, as
# service_domains records them; its primary key makes each domain one service's, so one PEM
# a name). A certificate for a domain its service no longer holds is not served (acme.py
# orders anew for the new one), even when another service has taken that domain since.
_QUERY = f"""
SELECT c.domain, c.chain_pem, c.key_sealed, c.fingerprint
FROM certificates c JOIN services s ON s.id = c.service_id
JOIN service_domains d ON d.service_id = c.service_id AND d.domain = c.domain
WHERE s.status <> '{ServiceStatus.DELETING}'
  AND c.chain_pem IS NOT NULL AND c.key_sealed IS NOT NULL
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


@dataclass(frozen=True)
class Served:
    """What the running HAProxy serves: the crt-list's paths (None: HAProxy is not running,
    it loads the files as it starts) and each wanted path's SHA1 (None: it has none there)."""

    listed: set[str] | None
    sha1: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # path -> why it could not be asked


def served_by_haproxy(socket: Path, edge_dir: Path, wanted: list) -> Served:
    """Ask the running HAProxy what it serves (reads only)."""
    haproxy = collection.haproxy()
    try:
        listed = haproxy.crt_list_paths(socket, str(edge_dir / CRT_LIST))
    except OSError as err:
        # HAProxy is not running (down, or recreated later in this pass). It loads the files
        # from its crt-list as it starts, and the control plane's outcome reports it down: no
        # problem of the certificates' own.
        log.info("HAProxy not asked about certificates (it loads them as it starts): %s", err)
        return Served(None)
    served = Served(listed)
    for cert in wanted:
        path = str(cert.path)
        try:
            served.sha1[path] = haproxy.cert_sha1(socket, path)
        except (OSError, ValueError) as err:
            served.errors[path] = str(err)
    return served


def tell_haproxy_what_changed(socket: Path, edge_dir: Path, wanted: list, served: Served):
    """Bring the running HAProxy's certificates in step with wanted, through its admin socket:
    (names added or renewed, problems). A certificate HAProxy serves but nobody wants any more
    goes (only the services'; the API domain's is replaced, never removed)."""
    if served.listed is None:
        return [], []
    haproxy = collection.haproxy()
    crt_list = str(edge_dir / CRT_LIST)
    changed, problems = [], []
    for cert in wanted:
        path = str(cert.path)
        try:
            if path in served.errors:
                raise OSError(served.errors[path])
            if path in served.listed and served.sha1.get(path) == cert.sha1:
                continue
            haproxy.put_cert(socket, path, cert.pem.decode(), new=served.sha1.get(path) is None)
            if path not in served.listed:
                haproxy.add_to_crt_list(socket, crt_list, path, cert.names)
            changed.append(cert.names)
        except (OSError, ValueError) as err:
            problems.append(f"certificate of {cert.names} not given to HAProxy: {err}")
    services = str(edge_dir / SERVICES_SUBDIR) + "/"
    for path in sorted(served.listed - {str(c.path) for c in wanted}):
        if path.startswith(services):
            try:
                haproxy.remove_cert(socket, crt_list, path)
            except (OSError, ValueError) as err:
                problems.append(f"certificate {path} not taken out of HAProxy: {err}")
    return changed, problems


def tell_haproxy(socket: Path, edge_dir: Path, wanted: list) -> tuple[list, list]:
    """Ask, then tell: what a pass's observe and run stages do, in one call."""
    served = served_by_haproxy(socket, edge_dir, wanted)
    return tell_haproxy_what_changed(socket, edge_dir, wanted, served)


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


@dataclass(frozen=True)
class EdgeCerts:
    """The edge's certificates as a pass observed them: those wanted (the store's, opened,
    and the API domain's first), the crt-list that names them, what HAProxy serves, and each
    opened service certificate's fingerprint by domain (the routes' EdgeTls)."""

    wanted: list
    crt_list: str
    served: Served
    fingerprints: dict[str, str]


def observe(conn, tls_dir: Path, edge_dir: Path, socket: Path, api_domain: str | None):
    """Read the store's certificates and open their keys, read the API pair, ask HAProxy what
    it serves; None when the host has no HTTPS yet (no sealing key, or no API domain, whose
    certificate must come first in the crt-list as HAProxy's default one)."""
    private_key = load_private_key(tls_dir)
    if private_key is None or not api_domain:
        return None
    stored = read_certificates(conn)
    services = open_stored(stored, edge_dir, private_key)
    api = api_certificate(tls_dir, api_domain, edge_dir)
    wanted = [*([api] if api else []), *services]
    opened = {c.names for c in services}
    return EdgeCerts(
        wanted=wanted,
        crt_list=crt_list_text(edge_dir, api_domain, services),
        served=served_by_haproxy(socket, edge_dir, wanted),
        fingerprints={s.domain: s.fingerprint for s in stored if s.domain in opened},
    )


def install(edge_dir: Path, socket: Path, edge: EdgeCerts) -> tuple[dict, list]:
    """The run's part: write the PEMs and the crt-list, then tell HAProxy what changed. What
    changed (certificates_installed, certificates_removed) and the problems met."""
    removed = write_files(edge_dir, edge.wanted, edge.crt_list)
    changed, problems = tell_haproxy_what_changed(socket, edge_dir, edge.wanted, edge.served)
    changes = {}
    if changed:
        changes["certificates_installed"] = changed
    if removed:
        changes["certificates_removed"] = removed
    return changes, problems
