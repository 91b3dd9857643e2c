"""spec.http: how the proxies pass HTTP to a service. Optional, validated, shown as written,
rendered only as numbers and fixed words; a spec without it keeps its digest."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.plan import Route
from swsagent.render import routes_conf
from swscore.spec import HttpSettings, SpecError, load_definition
from tests.fixtures.contract import repo_names

UPGRADE_DEFAULTS = repo_names().proxy_files.upgrade_defaults

BASE = {"name": "web", "port": 8080, "domain": "web.example.com", "image": "web:1"}


def load(http):
    return load_definition({"apiVersion": "v1", "spec": {**BASE, "http": http}})


def refused(http) -> dict:
    with pytest.raises(SpecError) as err:
        load(http)
    return err.value.fields


def test_every_field_is_optional_and_an_old_spec_keeps_its_digest():
    old = load_definition({"apiVersion": "v1", "spec": BASE})
    assert old.http is None and "http" not in old.spec_dict()
    for empty in (None, {}):
        assert load(empty).digest() == old.digest()


def test_values_are_kept_as_written_and_read_as_numbers():
    d = load(
        {"maxBodySize": "200m", "readTimeout": "5m", "buffering": False, "upgradeTimeout": 7200}
    )
    assert d.spec_dict()["http"] == {
        "maxBodySize": "200m",
        "readTimeout": "5m",
        "buffering": False,
        "upgradeTimeout": 7200,
    }
    assert (d.http.body_bytes, d.http.read_seconds, d.http.upgrade_seconds) == (
        200 * 1024**2,
        300,
        7200,
    )


@pytest.mark.parametrize(
    "http, field",
    [
        ({"maxBodySize": "1t"}, "maxBodySize"),
        ({"maxBodySize": "100 m"}, "maxBodySize"),
        ({"maxBodySize": "100m; return 302"}, "maxBodySize"),
        ({"maxBodySize": 512}, "maxBodySize"),
        ({"maxBodySize": "17g"}, "maxBodySize"),
        ({"maxBodySize": True}, "maxBodySize"),
        ({"maxBodySize": 1.5}, "maxBodySize"),
        ({"readTimeout": 0}, "readTimeout"),
        ({"readTimeout": "25h"}, "readTimeout"),
        ({"readTimeout": "60S"}, "readTimeout"),
        ({"readTimeout": "{{ x }}"}, "readTimeout"),
        ({"readTimeout": "-1"}, "readTimeout"),
        ({"upgradeTimeout": "1d"}, "upgradeTimeout"),
        ({"buffering": "false"}, "buffering"),
        ({"buffering": 0}, "buffering"),
        ({"buffering": None}, "buffering"),
        ({"gzip": True}, "gzip"),
    ],
)
def test_bad_values_are_refused_naming_the_field(http, field):
    assert list(refused(http)) == [f"spec.http.{field}"]


def test_http_must_be_a_mapping():
    assert refused("fast") == {"spec.http": "must be a mapping"}


def route(http=None) -> str:
    return routes_conf([Route("web.example.com", "web", "10.0.0.2", 8080, http)], repo_names())


def test_a_route_without_settings_uses_the_hosts_defaults_and_passes_upgrades():
    text = route()
    assert "client_max_body_size" not in text and "proxy_read_timeout" not in text
    assert "proxy_set_header" not in text  # headers come from nginx.conf, as a whole
    assert "if ($http_upgrade) {" in text and "error_page 418 = @upgrade;" in text
    assert f"include {UPGRADE_DEFAULTS};" in text


def test_a_routes_settings_render_as_numbers():
    text = route(HttpSettings("1g", "90s", False, "2h"))
    assert f"client_max_body_size {1024**3};" in text
    assert "proxy_read_timeout 90s;" in text and "proxy_buffering off;" in text
    assert "proxy_read_timeout 7200s;" in text and "proxy_send_timeout 7200s;" in text
    assert UPGRADE_DEFAULTS not in text


@settings(max_examples=200, deadline=None)
@given(
    size=st.one_of(
        st.integers(1024, 16 * 1024**3), st.from_regex(r"[0-9]{1,4}[kmg]", fullmatch=True)
    ),
    timeout=st.one_of(st.integers(1, 86400), st.from_regex(r"[0-9]{1,3}[smh]", fullmatch=True)),
    buffering=st.booleans(),
)
def test_any_accepted_value_renders_as_a_plain_number(size, timeout, buffering):
    http = {"maxBodySize": size, "readTimeout": timeout, "buffering": buffering}
    try:
        d = load(http)
    except SpecError as err:
        assert set(err.fields) <= {"spec.http.maxBodySize", "spec.http.readTimeout"}
        return
    text = route(d.http)
    assert f"client_max_body_size {d.http.body_bytes};" in text
    assert f"proxy_read_timeout {d.http.read_seconds}s;" in text
