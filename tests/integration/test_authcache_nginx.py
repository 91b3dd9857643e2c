"""The proxies' memory of accepted basic-auth credentials (issue 27, sws_authcache.lua) in a
real nginx of the proxy image: a right password is checked by auth_basic once and then
remembered, a wrong one never is, and a user removed from the spec is refused as soon as the
route without them is live.

Unlike test_site_nginx.py, one proxy lives through each test (a throwaway container named
authcache-*), so the test can change its files and reload it between requests; the service
is a server block of the same nginx on the container's loopback, answering 200. Whether an
answer came from memory shows by changing the htpasswd on disk without a reload: auth_basic
reads the file on every request, the memory does not.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swsagent import sitefiles
from swsagent.desired import DesiredService
from swsagent.plan import Route
from swsagent.render import routes_conf
from swscore.spec import load_definition
from tests.e2e.test_site import bcrypt_hash
from tests.integration.test_routes_nginx import IMAGE, NAMES, have_image, render_test_conf
from tests.integration.test_site_nginx import BAD, CLIENT, GOOD, SECRET_HASH, status

pytestmark = pytest.mark.skipif(not have_image(), reason=f"no {IMAGE} on this engine")
SERVICE = "server {\n    listen 127.0.0.1:8080;\n    return 200 'from the service';\n}\n"
BOB = base64.b64encode(b"bob:secret").decode()
# A bcrypt hash of some other password: "secret" does not match it.
OTHER_HASH = SECRET_HASH[:-6] + "AAAAAA"


def users_spec(name: str = "web", **users: str) -> dict:
    basic = [{"user": user, "passwordHash": hashed} for user, hashed in users.items()]
    spec = {"name": name, "port": 8080, "domain": "example.com", "image": "x/y:1"}
    return {**spec, "access": {"basicAuth": basic}, "tls": {"certificate": "acme"}}


class Proxy:
    """One nginx of the proxy image on conf (the volume's layout), the route for a spec."""

    def __init__(self, conf: Path):
        self.conf = conf
        self.name = f"authcache-{secrets.token_hex(4)}"

    def render(self, spec: dict) -> None:
        definition = load_definition({"apiVersion": "v1", "spec": spec})
        name = spec["name"]
        route = Route(
            "example.com", name, "127.0.0.1", 8080, None, definition.tls, False, definition.site
        )
        (self.conf / "candidate" / "routes.conf").write_text(routes_conf([route], NAMES))
        (self.conf / "candidate" / "service.conf").write_text(SERVICE)
        service = DesiredService(name, 1, 1, "running", definition.digest(), definition)
        wanted = sitefiles.wanted_files([service])
        sitefiles.write_files([self.conf], NAMES.proxy_files, wanted)
        sitefiles.remove_stale([self.conf], NAMES.proxy_files, wanted)
        for path in [self.conf, *self.conf.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # the workers (user nginx) read them

    def htpasswd(self, service: str = "web") -> Path:
        return self.conf / NAMES.proxy_files.on_host(
            NAMES.proxy_files.site_file(service, "htpasswd")
        )

    def __enter__(self) -> Proxy:
        command = [
            "docker", "run", "-d", "--name", self.name, "--network", "none",
            "--tmpfs", "/run/sws/proxy", "-v", f"{self.conf}:/etc/nginx/sws:ro",
            "-v", f"{CLIENT}:/client.pl:ro", IMAGE,
            "nginx", "-c", "/etc/nginx/sws/test.conf", "-g", "daemon off;",
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        self.ask([("example.com", "/.well-known/acme-challenge/ready", "", "")])
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)

    def ask(self, requests: list[tuple]) -> list[str]:
        lines = "".join("\t".join(r) + "\n" for r in requests)
        for _ in range(50):  # the first call waits for nginx's socket
            done = subprocess.run(
                ["docker", "exec", "-i", self.name, "perl", "/client.pl"],
                input=lines, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            if "connect:" not in done.stderr:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n=== END\n")[: len(requests)]

    def reload(self) -> None:
        """As a roll does; then wait until the old worker is gone (it kept the old routes)."""
        nginx = ["docker", "exec", self.name, "nginx", "-c", "/etc/nginx/sws/test.conf"]
        subprocess.run([*nginx, "-t", "-q"], check=True, capture_output=True, timeout=60)
        before = self._workers()
        subprocess.run([*nginx, "-s", "reload"], check=True, capture_output=True, timeout=60)
        for _ in range(100):
            now = self._workers()
            if now and not now & before:
                return
            subprocess.run(["sleep", "0.05"], check=True)
        raise AssertionError(f"workers {before} still serve after the reload")

    def _workers(self) -> set[str]:
        ps = [
            "docker",
            "exec",
            self.name,
            "sh",
            "-c",
            "grep -l 'worker proces[s]' /proc/[0-9]*/cmdline",
        ]
        found = subprocess.run(ps, capture_output=True, text=True, timeout=60).stdout
        return {line.split("/")[2] for line in found.split()}


def proxy(tmp_path: Path, spec: dict) -> Proxy:
    running = Proxy(render_test_conf(tmp_path / "conf"))
    running.render(spec)
    return running


def test_a_right_password_is_checked_once_and_a_wrong_one_every_time(tmp_path):
    with proxy(tmp_path, users_spec(alice=SECRET_HASH)) as nginx:
        first, anonymous, wrong, again = nginx.ask(
            [
                ("example.com", "/", "", GOOD),
                ("example.com", "/", "", ""),
                ("example.com", "/", "", BAD),
                ("example.com", "/", "", BAD),  # a refusal is never taken for a pass
            ]
        )
        assert status(first) == 200 and first.endswith("from the service")
        for refused in (anonymous, wrong, again):
            # Exactly auth_basic's answer: the realm is the service's name.
            assert status(refused) == 401
            assert 'WWW-Authenticate: Basic realm="web"\n' in refused
        # Behind nginx's back, the file no longer takes "secret" and now takes "wrong": the
        # remembered header still passes, the refused one was not remembered.
        nginx.htpasswd().write_text(f"alice:{bcrypt_hash('wrong')}\n")
        upgrade = "Upgrade: websocket"  # through @upgrade, which is guarded the same way
        again, tunnel, wrong = nginx.ask(
            [
                ("example.com", "/", "", GOOD),
                ("example.com", "/", "", GOOD, upgrade),
                ("example.com", "/", "", BAD),
            ]
        )
        assert status(again) == 200 and again.endswith("from the service")
        assert status(tunnel) == 200 and tunnel.endswith("from the service")
        assert status(wrong) == 200
        (anonymous,) = nginx.ask([("example.com", "/", "", "", upgrade)])
        assert status(anonymous) == 401 and 'realm="web"' in anonymous


def test_a_user_removed_is_refused_right_after_the_roll(tmp_path):
    with proxy(tmp_path, users_spec(alice=SECRET_HASH, bob=SECRET_HASH)) as nginx:
        answers = nginx.ask([("example.com", "/", "", BOB), ("example.com", "/", "", GOOD)])
        assert [status(a) for a in answers] == [200, 200]
        nginx.render(users_spec(alice=SECRET_HASH))
        nginx.reload()
        bob, alice = nginx.ask([("example.com", "/", "", BOB), ("example.com", "/", "", GOOD)])
        assert status(bob) == 401 and 'WWW-Authenticate: Basic realm="web"\n' in bob
        assert status(alice) == 200
        # A password changed: the remembered one goes with the roll too.
        nginx.render(users_spec(alice=OTHER_HASH))
        nginx.reload()
        (alice,) = nginx.ask([("example.com", "/", "", GOOD)])
        assert status(alice) == 401


def test_the_acme_challenge_and_the_health_check_stay_outside_the_auth(tmp_path):
    with proxy(tmp_path, users_spec(alice=SECRET_HASH)) as nginx:
        challenge, health = nginx.ask(
            [
                ("example.com", "/.well-known/acme-challenge/t0ken", "", ""),
                ("other.example.com", "/healthz", "", ""),
            ]
        )
        assert status(challenge) == 404  # no such token: no 401
        assert status(health) == 200


def test_a_service_named_off_is_still_guarded(tmp_path):
    # nginx reads a realm of exactly "off" as no auth_basic at all.
    with proxy(tmp_path, users_spec("off", alice=SECRET_HASH)) as nginx:
        anonymous, alice = nginx.ask([("example.com", "/", "", ""), ("example.com", "/", "", GOOD)])
        assert status(anonymous) == 401
        assert 'WWW-Authenticate: Basic realm="service off"\n' in anonymous
        assert status(alice) == 200


TOKENS = st.text(
    st.characters(codec="utf-8", exclude_characters="\t\r\n\x00"), min_size=1, max_size=200
)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tokens=st.lists(TOKENS, min_size=1, max_size=20))
def test_no_other_header_rides_on_a_remembered_one(tmp_path_factory, tokens):
    tmp_path = tmp_path_factory.mktemp("hostile")
    with proxy(tmp_path, users_spec(alice=SECRET_HASH)) as nginx:
        # Near misses too (a leading space is one nginx skips: that one is the right password).
        near = [GOOD + " ", GOOD[:-1], GOOD.lower(), GOOD + GOOD, GOOD.swapcase()]
        requests = [("example.com", "/", "", GOOD)]
        requests += [("example.com", "/", "", t) for t in [*tokens, *near] if t.strip() != GOOD]
        first, *others = nginx.ask(requests)
        assert status(first) == 200
        for answer in others:
            assert status(answer) in (400, 401), answer
