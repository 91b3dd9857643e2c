"""The sws_proxy role's memory of accepted basic-auth credentials (issue 27): on only with the
offline image (the one with nginx's lua module), and what nginx.conf and authcache.conf then
say. nginx runs them in tests/integration/test_authcache_nginx.py."""

from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).parents[2] / "roles" / "sws_proxy"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


@pytest.mark.parametrize(("offline", "expected"), [(True, True), (False, False), (None, False)])
def test_the_cache_is_on_with_the_offline_image_only(offline, expected):
    variables = {"sws_proxy_auth_cache": trust_as_template(DEFAULTS["sws_proxy_auth_cache"])}
    if offline is not None:
        variables["sws_offline_images"] = offline
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trust_as_template("{{ sws_proxy_auth_cache }}")) is expected


def render(name: str, cache: object) -> str:
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
        sws_proxy_auth_cache=cache,
    )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True)
    return env.from_string((ROLE / "templates" / name).read_text()).render(values)


@pytest.mark.parametrize("cache", [True, "True", "true"])
def test_with_the_cache_nginx_loads_lua_and_guarded_locations_use_it(cache):
    conf = render("nginx.conf.j2", cache)
    assert "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;" in conf
    assert "    lua_shared_dict sws_auth 1m;\n" in conf
    assert 'require("sws_authcache").init(300)' in conf
    included = render("authcache.conf.j2", cache)
    assert (
        'set_by_lua_block $sws_auth_realm { return require("sws_authcache").lookup() }' in included
    )
    assert 'access_by_lua_block { require("sws_authcache").store() }' in included


@pytest.mark.parametrize("cache", [False, "False"])
def test_without_it_nothing_needs_lua(cache):
    for name in ("nginx.conf.j2", "authcache.conf.j2"):
        directives = [line for line in render(name, cache).splitlines() if "#" not in line]
        assert not [line for line in directives if "lua" in line]
