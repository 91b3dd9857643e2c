"""The parts of a route that spec.aliases, redirects, access and pages add (issue 27): pure
text for serverblocks.py.

What the user wrote reaches nginx only as inert text: domains and networks are checked by the
spec (check_domain, normal_network), users and password hashes go to the htpasswd file and
pages to static files (sitefiles.py), never into this text. The client's address is
$sws_client, which nginx.conf takes from HAProxy's X-SWS-Client (HAProxy replaces any a client
sent, and nothing else reaches the proxies' sockets): never an address a client can forge.
"""

from __future__ import annotations

import hashlib

from swsagent.proxyfiles import ProxyFiles
from swsagent.tlsroutes import EdgeTls, challenge_location, https_server_lines
from swscore.spec import SiteSettings, TlsSettings

HTPASSWD = "htpasswd"
PAGE_FILES = {"maintenance": "maintenance.html", "error": "error.html"}


def served_names(domain: str, site: SiteSettings | None) -> list[str]:
    """The names one server block each serves: the domain, then its aliases."""
    return list(dict.fromkeys([domain, *(site.aliases if site else ())]))


def redirect_names(domain: str, site: SiteSettings | None) -> list[str]:
    served = served_names(domain, site)
    return [n for n in dict.fromkeys(site.redirects if site else ()) if n not in served]


def _variable(service: str) -> str:
    return f"$sws_allow_{service.replace('-', '_')}"


def allow_geo(service: str, site: SiteSettings | None) -> str:
    """An http-level geo block: 1 for a client in the service's allowed networks, else 0. An
    address that is not one (no X-SWS-Client) reads as 255.255.255.255: denied."""
    if not site or not site.allow:
        return ""
    networks = "".join(f"    {network} 1;\n" for network in site.allow)
    return f"geo $sws_client {_variable(service)} {{\n    default 0;\n{networks}}}\n\n"


def allow_check(service: str, site: SiteSettings | None) -> str:
    """For location /, first: its rewrite phase runs before the upgrade's and the redirect's."""
    if not site or not site.allow:
        return ""
    return f"        if ({_variable(service)} = 0) {{\n            return 403;\n        }}\n"


def basic_auth(service: str, site: SiteSettings | None, files: ProxyFiles) -> str:
    """auth_basic for a location (the ACME challenge's has none: the CA sends no password),
    behind the proxies' memory of accepted credentials (files.auth_cache, the role's
    sws_authcache.lua): bcrypt runs once a minute per user, not on every request. The scope
    names the htpasswd's content, so a changed file (a user removed) is never answered from
    memory once its route is live; the realm is a variable the cache turns "off" on a hit."""
    if not site or not site.users:
        return ""
    version = hashlib.sha256(site.htpasswd().encode()).hexdigest()[:16]
    return (
        f'        set $sws_auth_scope "{service} {version}";\n'
        f'        set $sws_auth_realm "{auth_realm(service)}";\n'
        f"        include {files.auth_cache};\n"
        "        auth_basic $sws_auth_realm;\n"
        f"        auth_basic_user_file {files.site_file(service, HTPASSWD)};\n"
    )


def auth_realm(service: str) -> str:
    """The realm clients are told is the service's name; nginx reads a realm of exactly "off"
    as no auth at all, even from a variable at request time, so that one name is not used."""
    return "service off" if service == "off" else service


def error_page_line(site: SiteSettings | None) -> str:
    """nginx's own 502/504 (no generation answers: refused, or a dead container's address
    that lets the connect time out) shows the user's page, as 502 both; a 502 the service
    itself sends passes as it is (proxy_intercept_errors stays off)."""
    if not site or site.error_page is None:
        return ""
    return "        error_page 502 504 =502 @sws_error_page;\n"


def page_location(
    name: str, kind: str, service: str, files: ProxyFiles, status: int, retry_after: int = 0
) -> str:
    """A named location serving one page as a static file, text/html only, never SSI; its
    status stays the error's (error_page without '='). Clients cannot ask for it by URI."""
    retry = f"        add_header Retry-After {retry_after} always;\n" if retry_after else ""
    return (
        f"    location {name} {{\n"
        f"        root {files.site_dir(service)};\n"
        "        types { }\n"
        '        default_type "text/html; charset=utf-8";\n'
        "        ssi off;\n"
        f"{retry}"
        f"        try_files /{PAGE_FILES[kind]} ={status};\n"
        "    }\n"
    )


def redirect_server(
    name: str, domain: str, tls: TlsSettings | None, edge: EdgeTls, socket: str, challenges: str
) -> str:
    """A redirected domain: 308 to the service's domain, path and query kept; https when the
    domain serves a certificate. It answers the ACME challenge for its own name first."""
    if https_server_lines(domain, tls, edge):
        port = "" if edge.https_port == 443 else f":{edge.https_port}"
        target = f"https://{domain}{port}"
    else:
        target = f"http://{domain}"
    # Only the listen line: HSTS is the service's own domain's business.
    https = "".join(line + "\n" for line in https_server_lines(name, tls, edge).splitlines()[:1])
    return f"""server {{
    listen unix:{socket};
    server_name {name};
{https}
{challenge_location(name, tls, edge, challenges)}    location / {{
        return 308 {target}$request_uri;
    }}
}}
"""
