"""The HTTPS part of a route (issue 15): pure text for render.py's server blocks.

HAProxy ends TLS (certs.py gives it the certificates) and passes what arrived over TLS, as
plain HTTP, to each proxy's https socket; nginx knows the scheme from the socket
($sws_scheme, nginx.conf). A route listens on that socket only when its domain has a
certificate installed; until then its domain is served over HTTP alone, and no redirect to
HTTPS is rendered (it would lead nowhere). A renewed certificate changes nothing here: HAProxy
swaps it at runtime, and the proxies do not roll for it.
Everything written here is a number, a fixed word or the domain, whose characters the spec
limits to inert ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from swscore.spec import TlsSettings

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


@dataclass(frozen=True)
class EdgeTls:
    """What the routes need to know of the host's HTTPS: its socket and port, the host's
    default certificate source, and the domains that have a certificate installed."""

    https_socket: str = "/run/sws/proxy/https.sock"
    https_port: int = 443
    default_source: str = "none"
    certificates: Mapping[str, str] = field(default_factory=dict)  # domain -> sha256 hex


def source(tls: TlsSettings | None, edge: EdgeTls) -> str:
    """Where the route's certificate comes from: acme, uploaded or none."""
    return (tls and tls.certificate) or edge.default_source


def https_server_lines(domain: str, tls: TlsSettings | None, edge: EdgeTls) -> str:
    """The https socket's listen and HSTS, for the server block; empty without a
    certificate. A certificate in the store is served unless the spec says none: uploading
    one is asking for HTTPS, whatever the host's default."""
    if domain not in edge.certificates or (tls and tls.certificate == "none"):
        return ""
    text = f"    listen unix:{edge.https_socket};\n"
    if tls and tls.hsts_seconds is not None:
        # Browsers ignore it over plain HTTP (RFC 6797), so it may go on both.
        text += f'    add_header Strict-Transport-Security "max-age={tls.hsts_seconds}" always;\n'
    return text


def challenge_location(
    domain: str, tls: TlsSettings | None, edge: EdgeTls, challenges_dir: str
) -> str:
    """HTTP-01 answers, on both schemes and before any redirect: the CA may ask either way.
    challenges_dir: ProxyFiles.challenges_dir, inside the proxy."""
    if source(tls, edge) != "acme":
        return ""
    return (
        f"    location ^~ {CHALLENGE_PREFIX} {{\n"
        f"        alias {challenges_dir}/;\n"
        "        default_type text/plain;\n"
        "    }\n\n"
    )


def redirect_lines(domain: str, tls: TlsSettings | None, edge: EdgeTls) -> str:
    """308 to the same path over HTTPS, for the location /; only once a certificate serves."""
    if not (tls and tls.redirect) or not https_server_lines(domain, tls, edge):
        return ""
    port = "" if edge.https_port == 443 else f":{edge.https_port}"
    return (
        '        if ($sws_scheme = "http") {\n'
        f"            return 308 https://{domain}{port}$request_uri;\n"
        "        }\n"
    )
