"""The routes the agent renders, through `nginx -t` in the real proxy image.

Property: every spec the API accepts (longest name and domain, every allowed character, ports
at both ends) renders server blocks nginx accepts, together and one by one, under the proxies'
own nginx.conf (roles/sws_proxy/templates/nginx.conf.j2, rendered here with the role's
defaults). And when nginx refuses something anyway, the agent's check names the offending
blocks with nginx's own [emerg] line and lets the others through.

Each example is one throwaway container of the proxy image (no name, no network), so this
needs the image on the engine but not a bootstrapped host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from swsagent.plan import Route
from swsagent.render import route_block
from swsagent.routecheck import Block, refused_blocks
from swscore.spec import check_domain, load_definition
from tests.fixtures.contract import repo_contract, repo_names
from tests.fixtures.proxy_role import render_values, template_values

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "sws_proxy"
# The offline proxy image sws.yml names (the one with lua); SWS_TEST_NGINX_IMAGE tries another
# build of it (a throwaway tag) before the bootstrap has built this one.
IMAGE = os.environ.get(
    "SWS_TEST_NGINX_IMAGE",
    yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())[
        "sws_offline_images_names"
    ]["nginx"],
)
NAMES = repo_names()

LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63).filter(
    lambda s: s[0] != "-" and s[-1] != "-"
)
NAME = LABEL


@st.composite
def domains(draw):
    """Valid RFC 1123 hostnames, biased to the longest (253 characters, 63-character labels)."""
    if draw(st.booleans()):
        labels = [draw(LABEL)]
        while len(".".join(labels)) < 253:
            labels.append(draw(LABEL))
        name = ".".join(labels)[:253].rstrip(".-")
        # A cut label may end with '-' or be cut to nothing: trim back to a valid one.
        while name.split(".")[-1].endswith("-") or name.endswith("."):
            name = name[:-1]
        return name
    return ".".join(draw(st.lists(LABEL, min_size=1, max_size=4)))[:253].strip(".-")


def accepted(domain: str) -> bool:
    """The API's own rule (a name whose last label is all digits is an address: refused)."""
    try:
        check_domain(domain)
    except ValidationError:
        return False
    return True


@st.composite
def route_sets(draw):
    count = draw(st.integers(min_value=1, max_value=12))
    names = draw(st.lists(NAME, min_size=count, max_size=count, unique=True))
    doms = draw(st.lists(domains().filter(accepted), min_size=count, max_size=count, unique=True))
    routes = []
    for name, domain in zip(names, doms, strict=True):
        port = draw(st.sampled_from([1, 2, 8080, 65534, 65535]) | st.integers(1, 65535))
        # What the API would accept, checked by the API's own rules.
        spec = {"name": name, "port": port, "domain": domain, "image": "x/y:1"}
        load_definition({"apiVersion": "v1", "spec": spec})
        routes.append(Route(domain=domain, service=name, address="172.30.255.254", port=port))
    return routes


def have_image() -> bool:
    return bool(
        subprocess.run(["docker", "images", "-q", IMAGE], capture_output=True, text=True).stdout
    )


pytestmark = pytest.mark.skipif(not have_image(), reason=f"no {IMAGE} on this engine")


def render_test_conf(directory: Path, **overrides) -> Path:
    """test.conf as the bootstrap renders it (candidate routes), into directory."""
    values = template_values(
        **{
            # The role takes it from sws.yml's sws_proxy_conf_mount (the host contract).
            "sws_proxy_conf_dir": repo_contract().proxy_conf_mount,
            "sws_proxy_routes_set": "candidate",
            "sws_proxy_api_domain": "api.sws.test",
            # As on a host whose API certificate is the local CA's (no plain HTTP redirect).
            "sws_proxy_api_redirects": False,
            "sws_proxy_worker_processes": 1,
            "sws_proxy_api_upload_max_body_size": repo_contract().backup_upload_max.removesuffix(
                "i"
            ),
            # The offline image has lua: the memory of accepted basic-auth credentials is on.
            "sws_proxy_auth_cache": True,
            **overrides,
        }
    )
    text = render_values("nginx.conf.j2", values)
    (directory / "candidate").mkdir(parents=True, exist_ok=True)
    (directory / "test.conf").write_text(text)
    # What routes include for an upgraded connection's timeouts, as the role writes it.
    (directory / "upgrade.conf").write_text(render_values("upgrade.conf.j2", values))
    write_auth_cache(directory, values)
    return directory


def write_auth_cache(directory: Path, values: dict) -> None:
    """What a route guarded by basic auth includes, and the lua module nginx.conf loads, as
    the role writes them."""
    (directory / "authcache.conf").write_text(render_values("authcache.conf.j2", values))
    (directory / "lua").mkdir(exist_ok=True)
    shutil.copy(ROLE / "files" / "sws_authcache.lua", directory / "lua")


def in_proxy_image(conf_dir: Path) -> list[str]:
    """A throwaway container of the proxy image with conf_dir at /etc/nginx/sws."""
    return [
        "docker",
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "--tmpfs",
        "/run/sws/proxy",
        "-v",
        f"{conf_dir}:/etc/nginx/sws:ro",
        IMAGE,
    ]


def blocks_of(routes: list[Route]) -> list[Block]:
    return [Block(r.service, route_block(r, NAMES)) for r in routes]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(routes=route_sets())
def test_nginx_accepts_every_route_the_api_accepts(tmp_path, routes):
    conf = render_test_conf(tmp_path / "conf")
    assert (
        refused_blocks(blocks_of(routes), in_proxy_image(conf), NAMES.proxy_files, one_by_one=True)
        == {}
    )


def test_many_routes_with_the_longest_domains_pass_together(tmp_path):
    routes = []
    for i in range(300):
        label = f"{i:03d}" + "a" * 60
        domain = ".".join([label, "b" * 63, "c" * 63, "d" * 61])
        assert len(domain) == 253
        routes.append(Route(domain, f"svc-{i}", "172.30.0.2", 65535))
    # With the API's redirect to HTTPS on another port, as a host with ACME's certificate has.
    conf = render_test_conf(
        tmp_path / "conf", sws_proxy_api_redirects=True, sws_proxy_api_https_port=8443
    )
    assert refused_blocks(blocks_of(routes), in_proxy_image(conf), NAMES.proxy_files) == {}


def test_a_refused_block_is_named_with_nginx_s_emerg_line(tmp_path):
    # nginx's old defaults (bucket 64) refuse long names: the check must find which.
    conf = render_test_conf(
        tmp_path / "conf",
        sws_proxy_server_names_hash_bucket_size=64,
        sws_proxy_server_names_hash_max_size=512,
    )
    short = [Route(f"s{i}.example.com", f"short-{i}", "172.30.0.2", 80) for i in range(3)]
    long = Route("x" * 63 + "." + "y" * 63 + ".example.com", "long", "172.30.0.3", 80)
    refused = refused_blocks(blocks_of([*short, long]), in_proxy_image(conf), NAMES.proxy_files)
    assert list(refused) == ["long"]
    assert refused["long"].startswith("[emerg] could not build server_names_hash")
    assert "/tmp/" not in refused["long"]


def test_a_block_that_breaks_only_the_set_it_joins_is_the_one_refused(tmp_path):
    conf = render_test_conf(tmp_path / "conf")
    first = Route("a.example.com", "same", "172.30.0.2", 80)
    second = Route("b.example.com", "same", "172.30.0.3", 80)  # the same upstream name
    other = Route("c.example.com", "other", "172.30.0.4", 80)
    blocks = [
        Block("first", route_block(first, NAMES)),
        Block("other", route_block(other, NAMES)),
        Block("second", route_block(second, NAMES)),
    ]
    refused = refused_blocks(blocks, in_proxy_image(conf), NAMES.proxy_files)
    assert list(refused) == ["second"]
    assert refused["second"].startswith('[emerg] duplicate upstream "sws_svc_same"')
