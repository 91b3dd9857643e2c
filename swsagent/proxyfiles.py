"""The proxies' configuration volume as the agent sees it: the paths inside a proxy (where the
volume is mounted) and their places relative to the volume (the host side of the same files).

The bootstrap lays the volume out (roles/sws_proxy: sws_proxy_conf_dir and its directories);
the roll writes routes into it (the collection's module_utils/proxyroll.py, CONF_DIR). Those
two say the same as this module, which tests/unit/test_proxyfiles.py checks.
"""

from __future__ import annotations

CONF_DIR = "/etc/nginx/sws"  # inside each proxy

# The routes nginx loads at its next start or reload. A proxy whose file went missing or was
# changed by hand counts as not rolled (applied routes None), so the next pass writes it again
# before a restart of that proxy could load something else.
LIVE_ROUTES = f"{CONF_DIR}/live/routes.conf"
# A copy of the routes a proxy serves, written only after nginx reloaded them: a pass killed
# between the copy to live and the reload leaves a stale copy, and the next pass rolls again.
APPLIED_ROUTES = f"{CONF_DIR}/live/routes.applied"
# The route check's nginx -t: test.conf includes the candidate routes instead of the live ones.
TEST_CONF = f"{CONF_DIR}/test.conf"
CANDIDATE_INCLUDE = f"{CONF_DIR}/candidate/*.conf"
# The operator's idle timeout of upgraded tunnels, for routes whose spec sets none.
UPGRADE_DEFAULTS = f"{CONF_DIR}/upgrade.conf"
# HTTPS: the ACME HTTP-01 answers, one file a token (HAProxy holds the certificates).
CHALLENGES_DIR = f"{CONF_DIR}/acme-challenge"


def on_host(path: str) -> str:
    """A path inside the proxy, relative to its volume (join it to the volume's host path)."""
    return path.removeprefix(CONF_DIR + "/")
