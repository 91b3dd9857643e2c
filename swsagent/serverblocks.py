"""One route's nginx text: its upstream and a server block for each name it serves (the
domain, then each alias), a held route's 503, and a server block for each redirected domain.

Pure text; render.py joins the routes. Headers (Host, X-Forwarded-*, Upgrade and the
Connection that keeps upstream keep-alive for plain requests) come from nginx.conf's http
block: a block that set any proxy_set_header of its own would lose all of those.
"""

from __future__ import annotations

from swsagent.plan import Route
from swsagent.proxyfiles import ProxyFiles
from swsagent.siteroutes import (
    allow_check,
    allow_geo,
    basic_auth,
    error_page_line,
    page_location,
    redirect_names,
    redirect_server,
    served_names,
)
from swsagent.tlsroutes import (
    EdgeTls,
    challenge_location,
    https_server_lines,
    redirect_lines,
)
from swscore.spec import HttpSettings

# Seconds a held route's 503 asks clients to wait: about a stop and a start.
RETRY_AFTER = 5


def route_text(route: Route, socket: str, files: ProxyFiles, edge: EdgeTls | None = None) -> str:
    edge = edge or EdgeTls()
    names = served_names(route.domain, route.site)
    if route.held:
        servers = [_held_server(route, name, socket, files, edge) for name in names]
    else:
        servers = [_upstream(route)] + [_server(route, n, socket, files, edge) for n in names]
    redirects = [
        redirect_server(n, route.domain, route.tls, edge, socket, files.challenges_dir)
        for n in redirect_names(route.domain, route.site)
    ]
    return allow_geo(route.service, route.site) + "\n".join(servers + redirects)


def upstream_name(route: Route) -> str:
    return f"sws_svc_{route.service.replace('-', '_')}"


def _upstream(route: Route) -> str:
    # Idle keep-alive connections each nginx worker keeps open to a service container: the
    # chain HAProxy -> nginx -> service is four times faster with them than without.
    # Replicas (issue 28): a server each, spread round-robin; nginx.conf's default
    # proxy_next_upstream (error, timeout) sends a request whose replica refused or did not
    # answer the connect to the next one, and a failed replica rests for fail_timeout (10 s).
    servers = "".join(f"    server {address}:{route.port};\n" for address in route.addresses)
    return f"""upstream {upstream_name(route)} {{
{servers}    keepalive 32;
}}
"""


def _held_server(route: Route, name: str, socket: str, files: ProxyFiles, edge: EdgeTls) -> str:
    """A domain whose service must get no request now: 503 with Retry-After (never a 502, never
    a half-started container), with the user's maintenance page if any; the ACME challenge
    still answers. With basic auth the 503 comes after it (try_files runs after the access
    phase; a `return` would answer before it)."""
    site = route.site
    https = https_server_lines(name, route.tls, edge)
    challenge = challenge_location(name, route.tls, edge, files.challenges_dir)
    page = site is not None and site.maintenance_page is not None
    respond = (
        f"        add_header Retry-After {RETRY_AFTER} always;\n"
        + ("        error_page 503 @sws_maintenance_page;\n" if page else "")
        + "        return 503;\n"
    )
    guard = allow_check(route.service, site) + basic_auth(route.service, site, files)
    extra = ""
    if site is not None and site.users:
        guard += "        try_files /.sws-held @sws_held;\n"
        extra = "\n    location @sws_held {\n" + respond + "    }\n"
        respond = ""
    if page:
        extra += "\n" + page_location(
            "@sws_maintenance_page", "maintenance", route.service, files, 503, RETRY_AFTER
        )
    return f"""server {{
    listen unix:{socket};
    server_name {name};
{https}
{challenge}    location / {{
{guard}{respond}    }}
{extra}}}
"""


def _server(route: Route, name: str, socket: str, files: ProxyFiles, edge: EdgeTls) -> str:
    upstream, site = upstream_name(route), route.site
    http = route.http or HttpSettings()
    server_extra = ""
    if http.body_bytes is not None:
        server_extra += f"    client_max_body_size {http.body_bytes};\n"
    location_extra = ""
    if http.read_seconds is not None:
        location_extra += f"        proxy_read_timeout {http.read_seconds}s;\n"
    if http.buffering is False:
        location_extra += "        proxy_buffering off;\n"
    if http.upgrade_seconds is not None:
        tunnel = (
            f"        proxy_read_timeout {http.upgrade_seconds}s;\n"
            f"        proxy_send_timeout {http.upgrade_seconds}s;\n"
        )
    else:
        tunnel = f"        include {files.upgrade_defaults};\n"
    # HTTPS (issue 15): empty strings when this name has none.
    https = https_server_lines(name, route.tls, edge)
    challenge = challenge_location(name, route.tls, edge, files.challenges_dir)
    redirect = redirect_lines(name, route.tls, edge)
    # Issue 27: empty strings without spec.access and spec.pages.
    auth, errors = basic_auth(route.service, site, files), error_page_line(site)
    error_page = ""
    if errors:
        error_page = "\n" + page_location("@sws_error_page", "error", route.service, files, 502)
    return f"""server {{
    listen unix:{socket};
    server_name {name};
{https}{server_extra}
{challenge}    location / {{
{allow_check(route.service, site)}{redirect}{auth}{errors}        proxy_pass http://{upstream};
{location_extra}        # An upgrade (websocket) goes on in @upgrade, with tunnel timeouts.
        error_page 418 = @upgrade;
        if ($http_upgrade) {{
            return 418;
        }}
    }}

    location @upgrade {{
{auth}{errors}        proxy_pass http://{upstream};
{tunnel}    }}
{error_page}}}
"""
