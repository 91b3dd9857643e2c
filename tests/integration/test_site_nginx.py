"""Aliases, redirects, access and pages (issue 27) in a real nginx of the proxy image: the
rendered routes and the agent's site files, asked over the routes' socket as HAProxy asks.

Each test is one throwaway container of the proxy image (no name, no network, so the
upstream's address is unreachable and nginx answers 502 itself), like test_routes_nginx.py:
it needs the image on the engine, not a bootstrapped host. The image's perl is the client.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from swsagent import sitefiles
from swsagent.desired import DesiredService
from swsagent.plan import Route
from swsagent.render import route_block, routes_conf
from swsagent.routecheck import Block, refused_blocks
from swscore.spec import SpecError, load_definition
from tests.integration.test_routes_nginx import (
    IMAGE,
    NAME,
    NAMES,
    accepted,
    domains,
    have_image,
    in_proxy_image,
    render_test_conf,
)

pytestmark = pytest.mark.skipif(not have_image(), reason=f"no {IMAGE} on this engine")
CLIENT = Path(__file__).resolve().parents[1] / "fixtures" / "nginxclient" / "client.pl"
# crypt("secret", "$2b$10$abcdefghijklmnopqrstuu") by the proxy image's own libcrypt.
SECRET_HASH = "$2b$10$abcdefghijklmnopqrstuuqflPDzB6gcMhKa1rZqKiun2YGL5sa2u"
GOOD = base64.b64encode(b"alice:secret").decode()
BAD = base64.b64encode(b"alice:wrong").decode()
# What nginx would read as SSI, a variable or the end of a block, were it anything but a file.
HOSTILE_PAGE = '<p>oops</p><!--# echo var="host" --><!--#exec cmd="id" --> $host }; ' + "é"


def site_spec(**extra) -> dict:
    spec = {
        "name": "web",
        "port": 8080,
        "domain": "example.com",
        "image": "x/y:1",
        "aliases": ["www.example.com"],
        "redirects": ["old.example.com"],
        "access": {
            "basicAuth": [{"user": "alice", "passwordHash": SECRET_HASH}],
            "allow": ["203.0.113.0/24", "2001:db8::/32"],
        },
        "pages": {"maintenance": "<p>back soon</p>", "error": HOSTILE_PAGE},
        **extra,
    }
    return spec


def ask(tmp_path: Path, spec: dict, requests: list[tuple], held: bool = False) -> list[str]:
    """Render the service's route and files, start nginx on them, send the requests."""
    definition = load_definition({"apiVersion": "v1", "spec": spec})
    conf = render_test_conf(tmp_path / "conf")
    route = Route(
        "example.com", "web", "192.0.2.1", 8080, None, definition.tls, held, definition.site
    )
    (conf / "candidate" / "routes.conf").write_text(routes_conf([route], NAMES))
    service = DesiredService("web", 1, 1, "running", definition.digest(), definition)
    wanted = sitefiles.wanted_files([service])
    sitefiles.write_files([conf], NAMES.proxy_files, wanted)
    for path in [conf, *conf.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)  # the workers (user nginx) read the bind mount
    lines = "".join("\t".join(r) + "\n" for r in requests)
    command = [
        "docker", "run", "--rm", "-i", "--network", "none", "--tmpfs", "/run/sws/proxy",
        "-v", f"{conf}:/etc/nginx/sws:ro", "-v", f"{CLIENT}:/client.pl:ro", IMAGE,
        "sh", "-c", "nginx -c /etc/nginx/sws/test.conf && sleep 0.3 && perl /client.pl",
    ]  # fmt: skip
    done = subprocess.run(command, input=lines, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n=== END\n")[: len(requests)]


def status(answer: str) -> int:
    return int(answer.split(" ", 2)[1])


def test_access_pages_aliases_and_redirects_in_a_real_nginx(tmp_path):
    answers = ask(
        tmp_path,
        site_spec(),
        [
            ("example.com", "/", "203.0.113.9", GOOD),
            ("www.example.com", "/x", "2001:db8::1", GOOD),
            ("example.com", "/", "198.51.100.1", GOOD),
            ("example.com", "/", "203.0.113.9", ""),
            ("example.com", "/", "203.0.113.9", BAD),
            ("example.com", "/", "", GOOD),
            ("old.example.com", "/a/b?c=d&e", "198.51.100.1", ""),
            ("other.example.com", "/healthz", "", ""),
        ],
    )
    error_page, alias, stranger, anonymous, wrong, unknown, moved, health = answers
    assert status(error_page) == 502
    assert "Content-Type: text/html; charset=utf-8" in error_page
    assert error_page.endswith(HOSTILE_PAGE)  # literally: no SSI, no variable
    assert status(alias) == 502 and alias.endswith(HOSTILE_PAGE)
    assert status(stranger) == 403
    assert status(anonymous) == 401 and status(wrong) == 401
    assert status(unknown) == 403  # no X-SWS-Client: no address, not allowed
    assert status(moved) == 308
    assert "Location: http://example.com/a/b?c=d&e\n" in moved
    assert status(health) == 200  # HAProxy's check (the default server) is untouched


def test_the_acme_challenge_is_outside_access(tmp_path):
    spec = site_spec(tls={"certificate": "acme"})
    (challenge,) = ask(
        tmp_path, spec, [("example.com", "/.well-known/acme-challenge/t0ken", "198.51.100.1", "")]
    )
    assert status(challenge) == 404  # no such token: neither 401 nor 403


def test_a_held_route_shows_the_maintenance_page_with_503_behind_access(tmp_path):
    answers = ask(
        tmp_path,
        site_spec(),
        [
            ("example.com", "/", "203.0.113.9", GOOD),
            ("www.example.com", "/", "203.0.113.9", ""),
            ("example.com", "/", "198.51.100.1", GOOD),
        ],
        held=True,
    )
    page, anonymous, stranger = answers
    assert status(page) == 503 and "Retry-After: 5\n" in page
    assert "Content-Type: text/html; charset=utf-8" in page
    assert page.endswith("<p>back soon</p>")
    assert status(anonymous) == 401 and status(stranger) == 403


def test_a_held_route_without_access_still_answers_503_with_the_page(tmp_path):
    spec = site_spec()
    del spec["access"]
    (page,) = ask(tmp_path, spec, [("example.com", "/", "", "")], held=True)
    assert status(page) == 503 and "Retry-After: 5\n" in page
    assert page.endswith("<p>back soon</p>")


def test_tls_settings_and_site_together_pass_nginx(tmp_path):
    spec = site_spec(tls={"certificate": "acme", "redirect": True, "hsts": "365d"})
    (answer,) = ask(tmp_path, spec, [("example.com", "/", "203.0.113.9", GOOD)])
    assert status(answer) == 502


@st.composite
def sites(draw):
    """Specs with every issue-27 field the API accepts, domains and networks of every shape."""
    names = draw(st.lists(domains().filter(accepted), min_size=3, max_size=8, unique=True))
    split = draw(st.integers(1, len(names) - 1))
    networks = draw(
        st.lists(
            st.ip_addresses().map(lambda a: f"{a}/{a.max_prefixlen // 2}"), min_size=1, max_size=5
        )
    )
    spec = {
        "name": draw(NAME),
        "port": 80,
        "domain": names[0],
        "image": "x/y:1",
        "aliases": names[1:split],
        "redirects": names[split:],
        "access": {
            "basicAuth": [{"user": "alice", "passwordHash": SECRET_HASH}],
            "allow": list(dict.fromkeys(networks)),
        },
        "pages": {"maintenance": draw(st.text(max_size=50)), "error": "e"},
        "tls": {"certificate": draw(st.sampled_from(["acme", "none"])), "redirect": True},
    }
    try:
        definition = load_definition({"apiVersion": "v1", "spec": spec})
    except SpecError:
        reject()
    held = draw(st.booleans())
    return Route(
        names[0], spec["name"], "172.30.0.2", 80, None, definition.tls, held, definition.site
    )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(routes=st.lists(sites(), min_size=1, max_size=4, unique_by=lambda r: r.service))
def test_nginx_accepts_every_site_the_api_accepts(tmp_path, routes):
    taken = [n for r in routes for n in (r.domain, *r.site.aliases, *r.site.redirects)]
    assume(len(taken) == len(set(taken)))
    conf = render_test_conf(tmp_path / "conf")
    blocks = [Block(r.service, route_block(r, NAMES)) for r in routes]
    assert refused_blocks(blocks, in_proxy_image(conf), NAMES.proxy_files, one_by_one=True) == {}
