"""spec.aliases, redirects, access and pages (issue 27): what the spec accepts, what reaches
nginx's text (only checked domains, networks and fixed words) and what reaches the site files
(the user's hashes and pages, byte for byte)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsagent import sitefiles
from swsagent.desired import DesiredService
from swsagent.plan import Route
from swsagent.render import RoutesError, routes_conf
from swscore.spec import SpecError, load_definition
from swscore.specsite import BCRYPT_RE, MAX_PAGE_BYTES
from tests.fixtures.contract import repo_names

NAMES = repo_names()
HASH = "$2y$12$" + "abcdefghij" * 5 + "abc"


def load(**extra):
    spec = {"name": "web", "port": 80, "domain": "example.com", "image": "x/y:1", **extra}
    return load_definition({"apiVersion": "v1", "spec": spec})


def problems(**extra) -> dict:
    with pytest.raises(SpecError) as err:
        load(**extra)
    return err.value.fields


def test_a_spec_without_the_fields_keeps_its_digest():
    assert load().digest() == load(aliases=[], access={}, pages={}).digest()
    assert load().site is None


@pytest.mark.parametrize(
    ("password_hash", "says"),
    [
        ("hunter2", "a clear password is never accepted"),
        ("$2y$09$" + "a" * 53, "cost must be from 10 to 14"),
        ("$2y$15$" + "a" * 53, "cost must be from 10 to 14"),
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "no argon2"),
        ("$6$salt$" + "a" * 86, "must be a bcrypt hash"),
        (HASH + "\n", "control characters"),
    ],
)
def test_anything_but_a_bcrypt_hash_is_refused(password_hash, says):
    access = {"basicAuth": [{"user": "alice", "passwordHash": password_hash}]}
    assert says in problems(access=access)["spec.access.basicAuth[0].passwordHash"]


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_a_password_hash_is_accepted_only_as_bcrypt(text):
    access = {"basicAuth": [{"user": "alice", "passwordHash": text}]}
    match = BCRYPT_RE.match(text)
    try:
        site = load(access=access).site
    except SpecError:
        assert not match or int(match.group("cost")) not in range(10, 15)
        return
    assert site.htpasswd() == f"alice:{text}\n"


@settings(max_examples=300)
@given(st.text(max_size=70))
def test_a_user_is_refused_or_inert_in_htpasswd(user):
    access = {"basicAuth": [{"user": user, "passwordHash": HASH}]}
    try:
        site = load(access=access).site
    except SpecError:
        return
    assert re.fullmatch(r"[A-Za-z0-9._@+-]{1,64}", user)
    assert site.htpasswd().count("\n") == 1 and site.htpasswd().count(":") == 1


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=50), st.ip_addresses().map(str)))
def test_a_network_is_refused_or_normalised_to_inert_text(text):
    try:
        site = load(access={"allow": [text]}).site
    except SpecError as err:
        assert list(err.fields) == ["spec.access.allow[0]"]
        return
    assert re.fullmatch(r"[0-9a-f.:]+/[0-9]{1,3}", site.allow[0])


def test_networks_are_normalised_and_limited():
    site = load(access={"allow": ["203.0.113.7/24", "2001:DB8::1/32", "10.0.0.1"]}).site
    assert site.allow == ("203.0.113.0/24", "2001:db8::/32", "10.0.0.1/32")
    twice = problems(access={"allow": ["10.0.0.0/8", "10.1.0.0/8"]})
    assert "10.0.0.0/8 is listed twice" in twice["spec.access.allow"]
    many = problems(access={"allow": [f"10.0.{i}.0/24" for i in range(65)]})
    assert many == {"spec.access.allow": "must list 1 to 64 networks"}


def test_domain_lists_are_limited_checked_and_distinct():
    many = problems(aliases=[f"a{i}.example.com" for i in range(21)])
    assert many == {"spec.aliases": "must have at most 20 domains"}
    assert "listed twice" in problems(redirects=["a.example.com"] * 2)["spec.redirects"]
    assert "spec.aliases[0]" in problems(aliases=["Bad.example.com"])
    assert problems(aliases=["localhost"]) == {
        "spec.aliases[0]": "must not be localhost: that is the host itself"
    }


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_a_page_is_kept_literally_or_refused(page):
    try:
        site = load(pages={"error": page}).site
    except SpecError as err:
        assert "\x00" in page or any(0xD800 <= ord(c) <= 0xDFFF for c in page), err.fields
        return
    assert site.error_page == page


def test_a_page_over_64_kib_is_refused():
    assert (
        "64 KiB"
        in problems(pages={"maintenance": "x" * (MAX_PAGE_BYTES + 1)})["spec.pages.maintenance"]
    )
    assert load(pages={"maintenance": "x" * MAX_PAGE_BYTES}).site.maintenance_page


hostile = st.text(max_size=100)


@settings(max_examples=100, deadline=None)
@given(page=hostile, users=st.lists(st.sampled_from(["alice", "bob", "c.d@e"]), unique=True))
def test_user_text_never_reaches_the_routes_only_the_site_files(page, users, tmp_path_factory):
    # A mark no route has, so "not in the routes" cannot fail on a short page such as
    # "list" (in "listen"); the rest of the page is as hostile as hypothesis makes it.
    page = "<!-- page 7f3a -->" + page
    spec = {"pages": {"maintenance": page, "error": page}, "aliases": ["www.example.com"]}
    if users:
        spec["access"] = {"basicAuth": [{"user": u, "passwordHash": HASH} for u in users]}
    try:
        definition = load(**spec)
    except SpecError:
        return
    for held in (False, True):
        route = Route("example.com", "web", "10.0.0.2", 80, held=held, site=definition.site)
        text = routes_conf([route], NAMES)
        assert HASH not in text
        assert "page 7f3a" not in text
    service = DesiredService("web", 1, 1, "running", definition.digest(), definition)
    conf = tmp_path_factory.mktemp("conf")
    files = NAMES.proxy_files
    sitefiles.write_files([conf], files, sitefiles.wanted_files([service]))
    site = conf / files.on_host(files.site_dir("web"))
    assert (site / "error.html").read_bytes() == page.encode()
    if users:
        assert (site / "htpasswd").read_text() == "".join(f"{u}:{HASH}\n" for u in users)


def test_every_name_gets_a_server_and_the_redirects_answer_308():
    definition = load(aliases=["www.example.com"], redirects=["old.example.com"])
    text = routes_conf([Route("example.com", "web", "10.0.0.2", 80, site=definition.site)], NAMES)
    assert text.count("upstream sws_svc_web {") == 1
    for name in ("example.com", "www.example.com", "old.example.com"):
        assert f"    server_name {name};\n" in text
    assert "return 308 http://example.com$request_uri;" in text


def test_an_alias_another_route_serves_is_refused():
    mine = load(aliases=["www.example.com"]).site
    routes = [
        Route("example.com", "web", "10.0.0.2", 80, site=mine),
        Route("www.example.com", "other", "10.0.0.3", 80),
    ]
    with pytest.raises(RoutesError, match=r"www\.example\.com \(other, web\)"):
        routes_conf(routes, NAMES)


def test_stale_site_files_go_and_wanted_ones_stay(tmp_path):
    definition = load(pages={"error": "<p>x</p>"})
    files = NAMES.proxy_files
    service = DesiredService("web", 1, 1, "running", definition.digest(), definition)
    wanted = sitefiles.wanted_files([service])
    assert sitefiles.write_files([tmp_path], files, wanted) == ["web"]
    assert sitefiles.write_files([tmp_path], files, wanted) == []  # unchanged: not rewritten
    root = tmp_path / files.on_host(files.sites_dir)
    (root / "gone").mkdir()
    (root / "gone" / "htpasswd").write_text("x")
    (root / "web" / "htpasswd").write_text("x")
    assert sitefiles.remove_stale([tmp_path], files, wanted) == ["gone", "web"]
    assert sorted(p.name for p in root.rglob("*")) == ["error.html", "web"]


def guarded(users: dict[str, str], name: str = "web") -> str:
    access = {"basicAuth": [{"user": u, "passwordHash": h} for u, h in users.items()]}
    site = load(access=access).site
    return routes_conf([Route("example.com", name, "10.0.0.2", 80, site=site)], NAMES)


def test_a_guarded_location_asks_the_memory_of_checked_credentials_first():
    text = guarded({"alice": HASH})
    conf = NAMES.proxy_files.conf_dir
    version = re.search(r'set \$sws_auth_scope "web ([0-9a-f]{16})";', text).group(1)
    lines = (
        f'        set $sws_auth_scope "web {version}";\n'
        '        set $sws_auth_realm "web";\n'
        f"        include {conf}/authcache.conf;\n"
        "        auth_basic $sws_auth_realm;\n"
        f"        auth_basic_user_file {conf}/sites/web/htpasswd;\n"
    )
    # location / and @upgrade; the ACME challenge's location has none.
    assert text.count(lines) == 2 and text.count("auth_basic ") == 2


def test_the_scope_changes_with_the_htpasswd_only():
    def scope(text: str) -> str:
        return re.search(r"set \$sws_auth_scope (.*);", text).group(1)

    other = HASH[:-3] + "xyz"
    assert scope(guarded({"alice": HASH})) == scope(guarded({"alice": HASH}))
    changed = [guarded({"alice": HASH, "bob": HASH}), guarded({"alice": other})]
    assert len({scope(guarded({"alice": HASH})), *(scope(t) for t in changed)}) == 3


def test_a_service_named_off_gets_a_realm_nginx_does_not_read_as_no_auth():
    # auth_basic "off" (also from a variable, at request time) turns the check off.
    assert 'set $sws_auth_realm "service off";' in guarded({"alice": HASH}, name="off")
