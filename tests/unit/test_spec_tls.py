"""spec.tls (issue 15): HTTPS for a service's domain. Optional, validated, shown as written,
rendered only as numbers, fixed words and the domain; a spec without it keeps its digest."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent.plan import Route
from swsagent.render import routes_conf
from swsagent.tlsroutes import EdgeTls
from swscore.spec import SpecError, TlsSettings, load_definition
from tests.fixtures.contract import repo_names

CHALLENGES_DIR = repo_names().proxy_files.challenges_dir

BASE = {"name": "web", "port": 8080, "domain": "web.example.com", "image": "web:1"}
FINGERPRINT = "ab" * 32
WITH_CERT = EdgeTls(certificates={"web.example.com": FINGERPRINT})


def load(tls):
    return load_definition({"apiVersion": "v1", "spec": {**BASE, "tls": tls}})


def refused(tls) -> dict:
    with pytest.raises(SpecError) as err:
        load(tls)
    return err.value.fields


def render(tls: TlsSettings | None, edge: EdgeTls | None = WITH_CERT) -> str:
    return routes_conf(
        [Route("web.example.com", "web", "10.0.0.2", 8080, tls=tls)], repo_names(), edge
    )


def test_every_field_is_optional_and_an_old_spec_keeps_its_digest():
    old = load_definition({"apiVersion": "v1", "spec": BASE})
    assert old.tls is None and "tls" not in old.spec_dict()
    for empty in (None, {}):
        assert load(empty).digest() == old.digest()
    assert render(None, None) == routes_conf(
        [Route("web.example.com", "web", "10.0.0.2", 8080)], repo_names()
    )


def test_values_are_kept_as_written_and_read_as_numbers():
    d = load({"certificate": "acme", "redirect": True, "hsts": "365d"})
    assert d.spec_dict()["tls"] == {"certificate": "acme", "redirect": True, "hsts": "365d"}
    assert d.tls.hsts_seconds == 365 * 86400
    assert load({"hsts": 0}).tls.hsts_seconds == 0
    assert load({"hsts": "2h"}).tls.hsts_seconds == 7200


@pytest.mark.parametrize(
    "tls, field",
    [
        ({"certificate": "letsencrypt"}, "certificate"),
        ({"certificate": "ACME"}, "certificate"),
        ({"certificate": ["acme"]}, "certificate"),
        ({"certificate": None}, "certificate"),
        ({"redirect": "true"}, "redirect"),
        ({"redirect": 1}, "redirect"),
        ({"hsts": "731d"}, "hsts"),
        ({"hsts": -1}, "hsts"),
        ({"hsts": "1y"}, "hsts"),
        ({"hsts": "365d; add_header X 1"}, "hsts"),
        ({"hsts": True}, "hsts"),
        ({"hsts": 1.5}, "hsts"),
        ({"hsts": "365d\n"}, "hsts"),
        ({"ciphers": "ALL"}, "ciphers"),
    ],
)
def test_bad_values_name_their_field(tls, field):
    assert list(refused(tls)) == [f"spec.tls.{field}"]


def test_tls_must_be_a_mapping():
    assert refused("on") == {"spec.tls": "must be a mapping"}


def test_a_route_without_a_certificate_serves_http_only_and_never_redirects():
    text = render(TlsSettings(certificate="uploaded", redirect=True, hsts=100), EdgeTls())
    assert "https.sock" not in text and "return 308" not in text and "Strict" not in text


def test_a_route_with_a_certificate_listens_on_the_https_socket_plainly():
    # HAProxy ends TLS: nginx gets plain HTTP on the https socket and knows the scheme by it.
    text = render(TlsSettings(certificate="uploaded", redirect=True, hsts="1d"))
    assert "listen unix:/run/sws/proxy/https.sock;" in text
    assert "ssl" not in text and "proxy_protocol" not in text
    assert 'if ($sws_scheme = "http")' in text
    assert 'add_header Strict-Transport-Security "max-age=86400" always;' in text
    assert "return 308 https://web.example.com$request_uri;" in text


def test_the_host_default_applies_and_none_turns_https_off():
    acme_host = EdgeTls(default_source="acme", certificates={"web.example.com": FINGERPRINT})
    assert "https.sock" in render(None, acme_host)
    assert f"alias {CHALLENGES_DIR}/;" in render(None, acme_host)
    assert "https.sock" not in render(TlsSettings(certificate="none"), acme_host)
    assert "acme-challenge" not in render(TlsSettings(certificate="uploaded"), acme_host)


def test_redirect_names_the_port_when_it_is_not_443_and_spares_the_challenge():
    edge = EdgeTls(https_port=8443, default_source="acme", certificates=WITH_CERT.certificates)
    text = render(TlsSettings(redirect=True), edge)
    assert "return 308 https://web.example.com:8443$request_uri;" in text
    # The challenge location is its own (^~): the redirect in location / never reaches it.
    assert text.index("location ^~ /.well-known/acme-challenge/") < text.index("location / {")


def test_a_renewed_certificate_leaves_the_routes_as_they_are():
    # HAProxy swaps it through its admin socket: the proxies do not roll for it.
    other = EdgeTls(certificates={"web.example.com": "cd" * 32})
    assert render(TlsSettings()) == render(TlsSettings(), other)


HOSTILE = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    st.sampled_from(["365d;", "1d\n", "${x}", "{{ x }}", "acme ", " 10", "0x10", "１０"]),
)


@settings(max_examples=400, deadline=None)
@given(certificate=HOSTILE, redirect=HOSTILE, hsts=HOSTILE)
def test_hostile_values_are_refused_or_rendered_as_inert_tokens(certificate, redirect, hsts):
    try:
        d = load({"certificate": certificate, "redirect": redirect, "hsts": hsts})
    except SpecError as err:
        assert set(err.fields) <= {f"spec.tls.{k}" for k in ("certificate", "redirect", "hsts")}
        return
    assert d.tls.certificate in ("acme", "uploaded", "none")
    assert isinstance(d.tls.redirect, bool)
    text = render(d.tls)
    for line in text.splitlines():
        if "Strict-Transport-Security" in line:
            assert re.fullmatch(
                r'    add_header Strict-Transport-Security "max-age=\d+" always;', line
            )
