"""The sws_proxy role's templates rendered as the bootstrap would, with test values: shared by
the unit tests of what nginx.conf says (test_api_https_redirect.py, test_proxy_authcache.py)."""

from pathlib import Path

import jinja2
import yaml

ROLE = Path(__file__).parents[2] / "roles" / "sws_proxy"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render_template(name: str, **overrides) -> str:
    """roles/sws_proxy/templates/<name> with the role's literal defaults, the bootstrap's paths
    and names, and `overrides` on top."""
    values = {k: v for k, v in DEFAULTS.items() if not (isinstance(v, str) and "{{" in v)}
    values.update(
        ansible_managed="test",
        sws_proxy_conf_dir="/etc/nginx/sws",
        sws_proxy_routes_set="live",
        sws_proxy_routes_socket="/run/sws/proxy/http.sock",
        sws_proxy_healthz_socket="/run/sws/proxy/healthz.sock",
        sws_proxy_https_socket_path="/run/sws/proxy/https.sock",
        sws_proxy_api_domain="api.example.com",
        sws_proxy_apiserver_socket="/run/sws/apiserver/http.sock",
        sws_proxy_api_redirects=False,
        sws_proxy_api_https_port=443,
        sws_proxy_api_upload_max_body_size="10G",
        sws_proxy_auth_cache=False,
    )
    values.update(overrides)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    return env.from_string((ROLE / "templates" / name).read_text()).render(values)
