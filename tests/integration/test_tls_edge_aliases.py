"""A certificate for each alias and redirect (issue 27), on the HTTPS edge of
test_tls_edge.py (HAProxy and two nginx proxies from the roles' templates, in throwaway
containers) against Debian's pebble: HTTP-01 is answered by the alias's and the redirect's own
server blocks, each name gets its own order and certificate, HAProxy serves each under its
name (SNI), and https://<redirect>/p?q answers 308 to the service's domain over HTTPS, path
and query kept, with a chain that verifies against pebble's root.
"""

from __future__ import annotations

import time

from swsagent import acmeorder
from swsagent.plan import Route
from swsagent.render import routes_conf
from swsagent.tlsroutes import EdgeTls
from swscore.spec import SiteSettings, TlsSettings
from tests.fixtures.contract import repo_names
from tests.integration import test_tls_edge as tls_edge
from tests.integration.test_tls_edge import ISSUED, PROXIES, context, get

# test_tls_edge.py's edge and pebble, started again for this module, and its skip condition.
edge = tls_edge.edge
pebble = tls_edge.pebble
pytestmark = tls_edge.pytestmark

ALIAS, MOVED = "www.acme.edge.test", "old.acme.edge.test"


def write_routes(edge) -> None:
    site = SiteSettings(aliases=(ALIAS,), redirects=(MOVED,))
    route = Route(ISSUED, "issued", edge.address, 8080, tls=TlsSettings(certificate="acme"),
                  site=site)  # fmt: skip
    tls = EdgeTls(https_port=edge.https, default_source="uploaded",
                  certificates=dict(edge.fingerprints))  # fmt: skip
    (edge.conf / "live" / "routes.conf").write_text(routes_conf([route], repo_names(), tls))
    for proxy in PROXIES:
        edge.reload(proxy)


def until_https(edge, name: str, ctx) -> tuple[str, dict, bytes]:
    """Poll until the reloaded proxies' workers serve the name on HTTPS (not a 404 of the
    proxies' catch-all server)."""
    deadline = time.monotonic() + 15
    while True:
        answer = get(edge, name, ctx, "/p?q=1")
        if answer[0] != "404" or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_each_alias_and_redirect_is_ordered_and_served_under_its_own_name(edge, pebble):
    settings, root, _ = pebble
    write_routes(edge)  # plain HTTP: the challenge answers on every name's server block
    client = acmeorder.account_client(settings)
    for name in (ISSUED, ALIAS, MOVED):
        chain_pem, key_pem = acmeorder.issue(client, name, settings)
        edge.install(name, chain_pem, key_pem)  # one PEM each, listed under its name
    assert sorted(edge.fingerprints) == sorted({ISSUED, ALIAS, MOVED, "web.edge.test"})
    assert len({edge.fingerprints[n] for n in (ISSUED, ALIAS, MOVED)}) == 3
    write_routes(edge)  # now each name listens on the https socket
    ctx = context(root)
    status, _, body = until_https(edge, ALIAS, ctx)
    assert status == "200", body  # verified for the alias's own name by ssl's check
    status, headers, _ = until_https(edge, MOVED, ctx)
    assert status == "308" and headers["location"] == f"https://{ISSUED}:{edge.https}/p?q=1"
