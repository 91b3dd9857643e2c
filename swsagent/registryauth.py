"""The owners' private-registry credentials a pass hands its deploys (issue 26).

The store keeps each password sealed to this host's key (swscore/sealing.py, written by the
apiserver, which cannot open it). The pass's observe stage reads the credentials of the owners
and registries its services' images name, opens them with the private half (root-only, in
tls_dir) and the run puts each into its service's host variables in the run's private
inventory; the action plugin reads it there (never a task argument), and the runner scrubs
every password from what it keeps (runner.scrub_secrets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from swsagent import certs
from swsagent.desired import DesiredService
from swscore import sealing
from swscore.registries import registry_address

log = logging.getLogger(__name__)

_QUERY = """
SELECT u.name, r.host, r.username, r.password_sealed
FROM registry_credentials r JOIN users u ON u.id = r.user_id
WHERE u.name = ANY(%s) AND r.host = ANY(%s)
"""


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str

    def as_var(self) -> dict:
        return {"username": self.username, "password": self.password}


def wanted(desired: list[DesiredService]) -> set[tuple[str, str]]:
    """(owner, registry) of every service to run whose image names a registry host."""
    pairs = set()
    for service in desired:
        if service.definition is None or service.deleting:
            continue
        address = registry_address(service.definition.image)
        if address is not None:
            pairs.add((service.owner, address))
    return pairs


def observe(conn, tls_dir: Path | None, desired: list[DesiredService]) -> dict:
    """{(owner, registry): RegistryAuth} for the services' images; empty without the host's
    sealing key (every registry is then asked without credentials)."""
    pairs = wanted(desired)
    private_key = certs.load_private_key(tls_dir) if tls_dir is not None and pairs else None
    if private_key is None:
        return {}
    with conn.cursor() as cur:
        cur.execute(_QUERY, (sorted({o for o, _ in pairs}), sorted({h for _, h in pairs})))
        rows = cur.fetchall()
    conn.commit()
    opened = {}
    for owner, host, username, sealed in rows:
        if (owner, host) not in pairs:
            continue
        try:
            password = sealing.open_box(private_key, bytes(sealed)).decode()
        except (sealing.SealError, UnicodeDecodeError) as err:
            log.warning("registry credentials of %s for %s left out: %s", owner, host, err)
            continue
        opened[(owner, host)] = RegistryAuth(username, password)
    return opened


def for_service(service: DesiredService, auths: dict) -> RegistryAuth | None:
    if service.definition is None:
        return None
    return auths.get((service.owner, registry_address(service.definition.image)))
