"""The sws_proxy role's memory of accepted basic-auth credentials (issue 27): on only with the
offline image (the one with nginx's lua module), and what nginx.conf and authcache.conf then
say. nginx runs them in tests/integration/test_authcache_nginx.py."""

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.fixtures.proxy_role import DEFAULTS, render_template


@pytest.mark.parametrize(("offline", "expected"), [(True, True), (False, False), (None, False)])
def test_the_cache_is_on_with_the_offline_image_only(offline, expected):
    variables = {"sws_proxy_auth_cache": trust_as_template(DEFAULTS["sws_proxy_auth_cache"])}
    if offline is not None:
        variables["sws_offline_images"] = offline
    templar = Templar(loader=DataLoader(), variables=variables)
    assert templar.template(trust_as_template("{{ sws_proxy_auth_cache }}")) is expected


def render(name: str, cache: object) -> str:
    return render_template(name, sws_proxy_auth_cache=cache)


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
