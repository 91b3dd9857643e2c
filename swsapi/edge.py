"""What the edge tells the apiserver about a request: the scheme the client used and its address.

The apiserver is reached only through the proxies: its unix socket is mounted into them alone,
and its TCP port is on sws-net, where only the store lives (no published port). Each proxy sets
`X-Forwarded-Proto` (from the socket HAProxy used: `$sws_scheme`) and `X-Real-IP` (HAProxy's
`X-SWS-Client`, the TCP peer) on every request to it, replacing whatever a client sent
(roles/sws_proxy/templates/nginx.conf.j2). That is the only reason these headers are trusted
here; an apiserver listening anywhere else must not read them.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface

SCHEME_HEADER = "X-Forwarded-Proto"
CLIENT_HEADER = "X-Real-IP"


def over_https() -> bool:
    """Whether the client's request came over TLS (HAProxy ends it; the proxy says so)."""
    return request.scheme == "https" or request.headers.get(SCHEME_HEADER) == "https"


def client_address() -> str:
    """The client's address as the edge saw it (the TCP peer when nothing stands between)."""
    return request.headers.get(CLIENT_HEADER) or request.remote_addr or "unknown"


class EdgeSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, `Secure` whenever the request came over HTTPS (or always, with
    SWS_COOKIE_SECURE). Over plain HTTP (swsctl and the quick start's http://api.sws.localhost)
    the cookie must work too, so it cannot be `Secure` there."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or over_https()


def strict_transport(response):
    """after_request: over HTTPS, tell browsers to use nothing else (SWS_HSTS_SECONDS; 0: no
    header). Over HTTP the header means nothing to a browser (RFC 6797 8.1), so it is left out."""
    max_age = current_app.config["SWS_HSTS_SECONDS"]
    if max_age and over_https():
        response.headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    return response


def init_app(app: Flask) -> None:
    app.session_interface = EdgeSessionInterface()
    app.after_request(strict_transport)
