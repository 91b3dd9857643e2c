"""Talking to the ACME CA for `sws-agent certs` (acme.py): whether a domain points at this
host at all, this host's account, and one order answered over HTTP-01 from every proxy."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import josepy
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from swsagent import certs
from swsagent.controlplane import observe_components
from swsagent.proxyfiles import ProxyFiles

USER_AGENT = "sws-agent"


# The first wait after a failed order (doubled after each next one, acme.backoff).
BACKOFF_FIRST = 3600


@dataclass(frozen=True)
class AcmeSettings:
    directory: str  # the CA's directory URL
    state_dir: Path  # the account key lives here, root-only
    tls_dir: Path  # the host's sealing key
    proxies: tuple[str, ...]
    proxy_files: ProxyFiles  # where the challenges go in each proxy's configuration volume
    default_source: str = "none"
    ca_bundle: str | None = None  # a private CA's (pebble's) trust for the directory's HTTPS
    email: str | None = None
    dns_server: str | None = None  # host:port; None: the system's resolver
    host_addresses: tuple[str, ...] = ()  # None given: this host's own addresses
    renew_days: int = 30
    backoff_first: int = BACKOFF_FIRST

    api_domain: str | None = None  # set when the API domain's certificate comes from ACME


def resolves_here(domain: str, settings: AcmeSettings) -> tuple[bool, str]:
    """Does the domain point at this host? (No order is placed for one that does not.)"""
    addresses = resolve(domain, settings.dns_server)
    mine = set(settings.host_addresses or host_addresses())
    if not addresses:
        return False, f"{domain} does not resolve"
    if not addresses & mine:
        return False, f"{domain} resolves to {', '.join(sorted(addresses))}, not to this host"
    return True, ""


def resolve(domain: str, dns_server: str | None) -> set[str]:
    if dns_server:
        import dns.resolver

        host, _, port = dns_server.rpartition(":")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = [host], int(port), 5
        found = set()
        for kind in ("A", "AAAA"):
            try:
                found |= {r.to_text() for r in resolver.resolve(domain, kind)}
            except dns.exception.DNSException:
                continue
        return found
    try:
        return {info[4][0] for info in socket.getaddrinfo(domain, None)}
    except OSError:
        return set()


def host_addresses() -> set[str]:
    """This host's addresses, loopback included (as `ip` lists them)."""
    import subprocess

    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}


def account_client(settings: AcmeSettings) -> client.ClientV2:
    """A client with this host's account (made and kept root-only on first use)."""
    path = settings.state_dir / "acme" / "account.json"
    key_path = settings.state_dir / "acme" / "account.key"
    if key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        certs.write_private(key_path, pem)
    jwk = josepy.JWKEC(key=key)
    net = client.ClientNetwork(jwk, alg=josepy.ES256, user_agent=USER_AGENT)
    if settings.ca_bundle:
        # ClientNetwork hands verify_ssl to requests as `verify`, which also takes a CA file.
        net.verify_ssl = settings.ca_bundle
    directory = messages.Directory.from_json(net.get(settings.directory).json())
    acme = client.ClientV2(directory, net)
    if path.exists():
        net.account = messages.RegistrationResource.json_loads(path.read_text())
    else:
        contact = (f"mailto:{settings.email}",) if settings.email else ()
        registration = messages.NewRegistration.from_data(
            terms_of_service_agreed=True, **({"email": settings.email} if contact else {})
        )
        account = acme.new_account(registration)
        certs.write_private(path, account.json_dumps().encode())
    return acme


def issue(acme: client.ClientV2, domain: str, settings: AcmeSettings) -> tuple[str, bytes]:
    """Order, answer HTTP-01 from every proxy, finalize: (chain PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    order = acme.new_order(crypto_util.make_csr(key_pem, [domain]))
    written: list[Path] = []
    try:
        for authz in order.authorizations:
            # A CA reuses an authorization still valid from an earlier order (Let's Encrypt for
            # 30 days, pebble by PEBBLE_AUTHZREUSE): its challenge is done and may not be
            # answered again ("Cannot update challenge with status valid"), so a renewal skips it.
            if authz.body.status == messages.STATUS_VALID:
                continue
            chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01))
            response, validation = chall.response_and_validation(acme.net.key)
            token = chall.chall.encode("token")
            files = settings.proxy_files
            for conf in proxy_conf_dirs(settings.proxies, files.conf_dir):
                path = conf / files.on_host(files.challenges_dir) / token
                path.write_text(validation)
                os.chmod(path, 0o644)  # nginx's workers serve it
                written.append(path)
            acme.answer_challenge(chall, response)
        deadline = datetime.now() + timedelta(seconds=90)
        order = acme.poll_and_finalize(order, deadline=deadline)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
    return order.fullchain_pem, key_pem


def proxy_conf_dirs(proxies, conf_dir: str) -> list[Path]:
    """Each proxy's configuration volume on the host; a proxy that is missing has none (it
    is not served a challenge, and HAProxy sends it nothing until it is back)."""
    components = observe_components(list(proxies)).values()
    return [Path(c.mounts[conf_dir]) for c in components if conf_dir in c.mounts]
