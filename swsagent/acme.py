"""ACME HTTP-01 certificates for services that ask for them (issue 15), with the `acme`
package certbot is built on. `sws-agent certs` runs this, from cron or in a loop, never in a
pass: an order takes seconds to minutes and a pass must not wait for a CA. This module decides
what to order and records the outcome; acmeorder.py talks to the CA.

For each service whose certificate is acme (its spec's tls.certificate, or the host's
default), not being deleted, each domain it holds (issue 27: its domain, each alias and each
redirect, as service_domains records them) has a certificate of its own, ordered, renewed and
backed off on its own; a domain with an uploaded certificate is left to it:
- nothing is asked while the domain does not resolve to one of this host's addresses;
- a certificate is ordered when there is none, or when it is within `renew_days` of its end;
- the challenge answer is written into every proxy's volume (acme-challenge/), so whichever
  proxy HAProxy picks answers the CA; every server block of such a service (domain, aliases,
  redirects) serves that directory;
- the new certificate's key is sealed to the host's key like an upload's and stored; a NOTIFY
  wakes the agent, whose pass gives it to HAProxy (nothing dropped);
- a failure is recorded on the domain's certificate (state failed, the message, attempts) and
  retried after 1, 2, 4 ... hours, at most a day apart: a real CA's rate limits are respected;
- a domain the service gave up (its domain changed, an alias or redirect removed) loses its
  ACME certificate; a new domain is due at once, with no backoff of the old one's.

Redirect domains get one too: https://old.example.com must reach its 308 without a warning
(a link or bookmark over HTTPS, a browser that upgrades by itself), and the redirect's server
block already answers the challenge and listens on HTTPS once its name has a certificate.

The API domain's certificate comes from here too when the host says so (agent.yml
`api_certificate: acme`). It is the host's, not a user's: it lives beside the bootstrap's
(tls_dir/api-<domain>.crt and .key, root-only), which serves until the first order succeeds,
and its state (issued, failed, the next attempt) is a root-only file in state_dir/acme/. The
agent's pass copies it into the proxies and rolls them (certs.py), as for a service's.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from acme import errors, messages
from cryptography import x509

from swsagent import certs
from swsagent.acmeorder import AcmeSettings, account_client, issue, resolves_here
from swscore import sealing
from swscore.certificates import leaf_fingerprint
from swscore.channel import NOTIFY_CHANNEL
from swscore.contract import ServiceStatus
from swscore.spec import TlsSettings

log = logging.getLogger(__name__)

BACKOFF_MOST = 86400


@dataclass
class Wanted:
    """One domain of a service (its domain, an alias or a redirect) and its certificate."""

    service_id: int
    name: str
    domain: str
    state: str | None  # the certificate row's, None when there is none
    source: str | None
    not_after: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    role: str = "domain"  # service_domains.role

    @property
    def label(self) -> str:
        """What the outcome and --renew call it: the service, or service/domain for an alias
        or a redirect."""
        return self.name if self.role == "domain" else f"{self.name}/{self.domain}"


_WANTED = f"""
SELECT s.id, s.name, d.domain, s.spec, c.state, c.source, c.not_after, c.next_attempt_at,
       coalesce(c.attempts, 0), d.role
FROM services s JOIN service_domains d ON d.service_id = s.id
LEFT JOIN certificates c ON c.service_id = s.id AND c.domain = d.domain
WHERE s.status <> '{ServiceStatus.DELETING}'
ORDER BY s.name, CASE d.role WHEN 'domain' THEN 0 WHEN 'alias' THEN 1 ELSE 2 END, d.domain
"""


def wanted(conn, default_source: str) -> list[Wanted]:
    """The domains whose certificate comes from ACME: each a service that asks for it holds,
    but for those with an uploaded certificate."""
    with conn.cursor() as cur:
        cur.execute(_WANTED)
        rows = cur.fetchall()
    conn.commit()
    found = []
    for sid, name, domain, spec, state, source, not_after, next_at, attempts, role in rows:
        tls = TlsSettings.from_loaded((spec or {}).get("tls"))
        if ((tls and tls.certificate) or default_source) != "acme" or source == "uploaded":
            continue
        found.append(Wanted(sid, name, domain, state, source, not_after, next_at, attempts, role))
    return found


def forget_given_up(conn) -> list[str]:
    """ACME certificates of domains their service no longer holds go (the domain changed, an
    alias or a redirect was removed): never served again, and a domain taken up anew starts
    with no backoff. An uploaded one stays (the user's, unserved) until the user deletes it."""
    with conn.cursor() as cur:
        cur.execute(
            """DELETE FROM certificates c WHERE c.source <> 'uploaded' AND NOT EXISTS
                   (SELECT 1 FROM service_domains d
                    WHERE d.service_id = c.service_id AND d.domain = c.domain)
               RETURNING c.domain"""
        )
        gone = sorted(row[0] for row in cur.fetchall())
    conn.commit()
    return gone


def due(item: Wanted, now: datetime, renew_days: int, force: bool = False) -> bool:
    if item.next_attempt_at and item.next_attempt_at > now and not force:
        return False
    if force or item.not_after is None:
        return True
    return item.not_after - now < timedelta(days=renew_days)


def record_issued(conn, item: Wanted, chain_pem: str, key_pem: bytes, public_key) -> None:
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    sealed = sealing.seal(public_key, key_pem)
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO certificates (service_id, source, domain, chain_pem, key_sealed,
                   fingerprint, not_after, state, message, attempts, next_attempt_at, updated_at)
               VALUES (%s, 'acme', %s, %s, %s, %s, %s, 'issued', NULL, 0, NULL, now())
               ON CONFLICT (service_id, domain) DO UPDATE SET source = 'acme',
                   chain_pem = EXCLUDED.chain_pem, key_sealed = EXCLUDED.key_sealed,
                   fingerprint = EXCLUDED.fingerprint, not_after = EXCLUDED.not_after,
                   state = 'issued', message = NULL, attempts = 0, next_attempt_at = NULL,
                   updated_at = now()
               WHERE certificates.source <> 'uploaded'""",
            (item.service_id, item.domain, chain_pem, sealed, leaf_fingerprint(leaf),
             leaf.not_valid_after_utc),
        )  # fmt: skip
    wake(conn, item.name)


def wake(conn, name: str) -> None:
    """Commit, with a NOTIFY that starts the watching agent's pass, which installs the new
    certificate in the proxies (name: its service; empty for the API domain's)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_notify(%s, %s)",
            (NOTIFY_CHANNEL, json.dumps({"name": name, "event": "certificate"})),
        )
    conn.commit()


def backoff(settings: AcmeSettings, attempts: int) -> int:
    """Seconds before the next attempt after this many failures: doubling, at most a day."""
    return min(settings.backoff_first * 2 ** (attempts - 1), BACKOFF_MOST)


def record_failure(conn, item: Wanted, message: str, settings: AcmeSettings) -> int:
    """Failed (or not asked: the domain does not point here): retry later, backing off."""
    attempts = item.attempts + 1
    wait = backoff(settings, attempts)
    state = "failed" if item.state not in ("issued",) else "issued"
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO certificates (service_id, source, domain, state, message, attempts,
                   next_attempt_at, updated_at)
               VALUES (%s, 'acme', %s, %s, %s, %s, now() + %s * interval '1 second', now())
               ON CONFLICT (service_id, domain) DO UPDATE SET state = EXCLUDED.state,
                   message = EXCLUDED.message, attempts = EXCLUDED.attempts,
                   next_attempt_at = EXCLUDED.next_attempt_at, updated_at = now()
               WHERE certificates.source <> 'uploaded'""",
            (item.service_id, item.domain, state, message[:2000], attempts, wait),
        )
    conn.commit()
    return wait


def forced(item: Wanted, force: set[str]) -> bool:
    """--renew names a service (all its domains), one domain, or service/domain."""
    return bool({item.name, item.domain, item.label} & set(force))


def run_once(conn, settings: AcmeSettings, force: set[str] = frozenset()) -> dict:
    """One round over the domains that want ACME, one order each: what was issued, failed or
    skipped, each by its label (the service; service/domain for an alias or a redirect)."""
    private = certs.load_private_key(settings.tls_dir)
    if private is None:
        return {"skipped": "no sealing key (bootstrap the host first)"}
    now = datetime.now(UTC)
    outcome: dict = {"issued": [], "failed": {}, "not_here": {}}
    dropped = forget_given_up(conn)
    if dropped:
        outcome["dropped"] = dropped
    items = wanted(conn, settings.default_source)
    todo = [w for w in items if due(w, now, settings.renew_days, forced(w, force))]
    acme = None
    if settings.api_domain:
        outcome["api"], acme = api_round(conn, settings, acme, now, API_NAME in force)
    for item in todo:
        here, why = resolves_here(item.domain, settings)
        if not here:
            record_failure(conn, item, f"not requested: {why}", settings)
            outcome["not_here"][item.label] = why
            continue
        try:
            acme = acme or account_client(settings)
            chain_pem, key_pem = issue(acme, item.domain, settings)
        except (errors.Error, messages.Error, OSError, ValueError, StopIteration) as err:
            wait = record_failure(conn, item, f"ACME: {err}", settings)
            outcome["failed"][item.label] = f"{err} (next attempt in {wait} s)"
            continue
        record_issued(conn, item, chain_pem, key_pem, private.public_key())
        outcome["issued"].append(item.label)
    return outcome


# --- The API domain's certificate -------------------------------------------------------------
API_NAME = "api"  # what `sws-agent certs --renew` calls it


def api_state_path(settings: AcmeSettings) -> Path:
    return settings.state_dir / "acme" / f"api-{settings.api_domain}.json"


def read_api_state(settings: AcmeSettings) -> dict:
    try:
        return json.loads(api_state_path(settings).read_text())
    except (OSError, ValueError):
        return {}


def api_due(state: dict, now: datetime, renew_days: int, force: bool = False) -> bool:
    """Due when no ACME certificate was issued yet (the bootstrap's serves meanwhile) or the
    issued one is within renew_days of its end; never before a failure's next attempt."""
    next_at = state.get("next_attempt_at")
    if next_at and datetime.fromisoformat(next_at) > now and not force:
        return False
    if force or state.get("state") != "issued" or not state.get("not_after"):
        return True
    return datetime.fromisoformat(state["not_after"]) - now < timedelta(days=renew_days)


def api_round(conn, settings: AcmeSettings, acme, now: datetime, force: bool = False):
    """Order the API domain's certificate when due: (its state, the ACME client used)."""
    state = read_api_state(settings)
    if not api_due(state, now, settings.renew_days, force):
        return state, acme
    domain = settings.api_domain
    here, why = resolves_here(domain, settings)
    try:
        if not here:
            raise ValueError(f"not requested: {why}")
        acme = acme or account_client(settings)
        chain_pem, key_pem = issue(acme, domain, settings)
    except (errors.Error, messages.Error, OSError, ValueError, StopIteration) as err:
        attempts = int(state.get("attempts") or 0) + 1
        wait = backoff(settings, attempts)
        message = str(err) if not here else f"ACME: {err}"
        state = {
            **state,
            "domain": domain,
            "state": "issued" if state.get("state") == "issued" else "failed",
            "message": f"{message[:2000]} (next attempt in {wait} s)",
            "attempts": attempts,
            "next_attempt_at": (now + timedelta(seconds=wait)).isoformat(),
        }
        certs.write_private(api_state_path(settings), json.dumps(state).encode())
        return state, acme
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    crt, key = certs.api_pair(settings.tls_dir, domain)
    # A pass between the two writes finds a key that does not match the certificate and
    # installs neither (certs.api_certificate): HAProxy keeps serving the old pair.
    certs.write_private(key, key_pem)
    certs.write_private(crt, chain_pem.encode())
    state = {
        "domain": domain,
        "state": "issued",
        "not_after": leaf.not_valid_after_utc.isoformat(),
        "fingerprint": leaf_fingerprint(leaf),
        "attempts": 0,
        "next_attempt_at": None,
        "message": None,
    }
    certs.write_private(api_state_path(settings), json.dumps(state).encode())
    wake(conn, "")
    return state, acme


def loop(connect, settings: AcmeSettings, interval: float) -> None:
    """`sws-agent certs --loop`: a round every `interval` seconds (backoff lives in the store)."""
    while True:
        conn = connect()
        try:
            log.info("certs: %s", run_once(conn, settings))
        finally:
            conn.close()
        time.sleep(interval)
