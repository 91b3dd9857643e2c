"""The proxies' configuration volume as the agent sees it: the paths inside a proxy (where the
volume is mounted) and their places relative to the volume (the host side of the same files).

The mount is the host contract's proxy_conf_mount (sws.yml's sws_proxy_conf_mount), given
here as conf_dir: the bootstrap lays the volume out there (roles/sws_proxy) and the roll
writes routes into it (sws.host.proxy_roll, told the same directory by the pass).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyFiles:
    conf_dir: str  # inside each proxy

    @property
    def live_routes(self) -> str:
        """The routes nginx loads at its next start or reload. A proxy whose file went missing
        or was changed by hand counts as not rolled (applied routes None), so the next pass
        writes it again before a restart of that proxy could load something else."""
        return f"{self.conf_dir}/live/routes.conf"

    @property
    def applied_routes(self) -> str:
        """A copy of the routes a proxy serves, written only after nginx reloaded them: a pass
        killed between the copy to live and the reload leaves a stale copy, and the next pass
        rolls again."""
        return f"{self.conf_dir}/live/routes.applied"

    @property
    def test_conf(self) -> str:
        """The route check's nginx -t: it includes the candidate routes, not the live ones."""
        return f"{self.conf_dir}/test.conf"

    @property
    def candidate_include(self) -> str:
        return f"{self.conf_dir}/candidate/*.conf"

    @property
    def upgrade_defaults(self) -> str:
        """The operator's idle timeout of upgraded tunnels, for routes whose spec sets none."""
        return f"{self.conf_dir}/upgrade.conf"

    @property
    def auth_cache(self) -> str:
        """Issue 27: what a location guarded by basic auth includes before its auth_basic: the
        lookup in (and store into) the proxies' memory of accepted credentials, written by the
        bootstrap (empty for an image without lua)."""
        return f"{self.conf_dir}/authcache.conf"

    @property
    def challenges_dir(self) -> str:
        """HTTPS: the ACME HTTP-01 answers, one file a token (HAProxy holds the certificates)."""
        return f"{self.conf_dir}/acme-challenge"

    @property
    def sites_dir(self) -> str:
        """Issue 27: what a route reads at request time, one directory a service (sitefiles.py):
        its htpasswd and its pages, never in the route's own text."""
        return f"{self.conf_dir}/sites"

    def site_dir(self, service: str) -> str:
        return f"{self.sites_dir}/{service}"

    def site_file(self, service: str, name: str) -> str:
        return f"{self.site_dir(service)}/{name}"

    def on_host(self, path: str) -> str:
        """A path inside the proxy, relative to its volume (join it to the volume's host path)."""
        return path.removeprefix(self.conf_dir + "/")
