"""The edge per service on the real host (issue 27), in one service of user A with every
field, and user B trying to take its names:

- its alias serves the same app; its redirect domain answers 308 to the service's domain, path
  and query kept, and `curl -L` and a real browser (headless Chromium) land on the app;
- basic auth with a real bcrypt hash: no credentials 401 with WWW-Authenticate, wrong 401,
  right 200;
- the allow list (127.0.0.1/32) against the address HAProxy sees: a client bound to 127.0.0.1
  passes, one bound to 127.0.0.2 (Linux routes all of 127/8 on lo) gets 403, forged
  X-SWS-Client and X-Forwarded-For headers notwithstanding;
- the error page with 502 while no container answers (the test kills it; the agent's pass
  starts it again), the maintenance page with 503 and Retry-After during a recreate (the
  service has a volume) and while it is stopped;
- B's apply naming A's alias or redirect is refused 409, and B cannot set its certificate.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests.e2e import test_agent
from tests.e2e.test_agent import HELLO, containers_of, docker, domain
from tests.e2e.test_stacks import Tenant, passes_until

pytestmark = pytest.mark.e2e

agent_host = test_agent.agent_host

PASSWORD = "correct horse"
INSIDE, OUTSIDE = "127.0.0.1", "127.0.0.2"


def bcrypt_hash(password: str) -> str:
    """A real bcrypt hash at the spec's lowest cost (10), made by the C library's crypt
    (libxcrypt, through ctypes: Python's own crypt module is deprecated) as the proxies'
    nginx checks it (the venv has no bcrypt package, the host no htpasswd)."""
    import ctypes  # noqa: PLC0415

    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    libcrypt.crypt_gensalt.argtypes = [
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    setting = libcrypt.crypt_gensalt(b"$2b$", 10, None, 0)  # a random salt from the OS
    return libcrypt.crypt(password.encode(), setting).decode()


def basic(user: str, password: str) -> str:
    import base64  # noqa: PLC0415

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(host, name: str, path: str = "/", source: str = INSIDE, **headers):
    """One GET through the load balancer, from a client bound to `source`: (status, headers,
    body). Raw http.client, so nothing follows a redirect or adds a header."""
    port = urlsplit(host.http).port or 80
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"Host": name, **headers})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def until(probe, done, seconds: float = 30.0, what: str = ""):
    """probe() again and again until done(its answer); the answer."""
    deadline = time.monotonic() + seconds
    while True:
        answer = probe()
        if done(answer):
            return answer
        assert time.monotonic() < deadline, f"{what}: last answer {answer}"
        time.sleep(0.1)


def site_spec(name: str, pages: dict, password_hash: str, **more) -> dict:
    return {
        "name": name,
        "port": 8080,
        "domain": domain(name),
        "image": HELLO,
        "volumeMount": "/data",  # an update is a recreate: the old container stops first
        "aliases": [f"www.{domain(name)}"],
        "redirects": [f"old.{domain(name)}"],
        "access": {
            "basicAuth": [{"user": "alice", "passwordHash": password_hash}],
            "allow": [f"{INSIDE}/32"],
        },
        "pages": pages,
        **more,
    }


def test_aliases_redirects_access_and_pages_at_the_real_edge(agent_host):
    host, tag = agent_host, uuid.uuid4().hex[:6]
    alice, bob = Tenant(host, f"alice-{tag}"), Tenant(host, f"bob-{tag}")
    name = f"site-{tag}"
    main, alias, old = domain(name), f"www.{domain(name)}", f"old.{domain(name)}"
    pages = {
        "maintenance": f"<h1>back soon {tag}</h1>",
        "error": f"<h1>broken {tag}</h1>",
    }
    spec = site_spec(name, pages, bcrypt_hash(PASSWORD))
    alice.apply(**spec)
    right = {"Authorization": basic("alice", PASSWORD)}
    try:
        # B can take none of A's names, nor set a certificate for them.
        for field, taken in (("aliases", alias), ("redirects", old)):
            refused = bob.api("PUT", f"/services/b-{tag}", json={"apiVersion": "v1", "spec": {
                "name": f"b-{tag}", "port": 8080, "domain": domain(f"b-{tag}"), "image": HELLO,
                field: [taken]}})  # fmt: skip
            assert refused.status_code == 409, refused.text
            assert "another user's service" in refused.text, refused.text
        body = {"certificate": "x", "key": "y"}
        assert bob.api("PUT", f"/services/{name}/certificate?domain={alias}", json=body
                       ).status_code == 404  # fmt: skip

        passes_until(host, lambda: alice.service(name)["status"] == "running", what="start")
        check_domains(host, main, alias, old, right)
        check_access(host, main, right)
        check_error_page(host, alice, name, main, right, pages["error"])
        check_pages_during_a_recreate(host, alice, spec, main, right, pages["maintenance"])
        check_maintenance_while_stopped(host, alice, name, alias, right, pages["maintenance"])
    finally:
        alice.api("DELETE", f"/services/{name}?purge=true")
        host.run_pass(check=False)
        host.settle()


def check_domains(host, main: str, alias: str, old: str, right: dict) -> None:
    status, _, body = get(host, alias, "/a?b=1", **right)
    assert status == 200 and b'"path": "/a?b=1"' in body, body
    status, headers, _ = get(host, old, "/p/q?x=1&y=2")
    assert status == 308 and headers["location"] == f"http://{main}/p/q?x=1&y=2", headers
    # curl follows it (keeping the credentials across hosts only with --location-trusted) and
    # lands on the app; every name goes to the load balancer.
    port = urlsplit(host.http).port or 80
    curl = subprocess.run(
        ["curl", "-sS", "-L", "--location-trusted", "-u", f"alice:{PASSWORD}",
         "--connect-to", f"::127.0.0.1:{port}", "-w", "\n%{http_code} %{num_redirects}",
         f"http://{old}:{port}/p/q?x=1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    assert curl.stdout.endswith("\n200 1") and '"path": "/p/q?x=1"' in curl.stdout, curl.stdout
    check_a_browser_follows(port, old, main, right)


def check_a_browser_follows(port: int, old: str, main: str, right: dict) -> None:
    """A real browser (Debian's headless Chromium, as tests/integration/test_web_view.py runs
    it) opening the old domain lands on the service's domain, path and query kept. Every
    *.agent.test name resolves to this host, and the basic-auth header goes with every
    request (a browser's prompt cannot be answered headless)."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    from tests.integration.test_web_view import CHROMEDRIVER, CHROMIUM, FLAGS  # noqa: PLC0415

    os.environ.setdefault("SE_OFFLINE", "true")  # Debian's driver and browser, no download
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, "--host-resolver-rules=MAP *.agent.test 127.0.0.1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": right})
        driver.get(f"http://{old}:{port}/p/q?x=1")
        shown = "" if port == 80 else f":{port}"  # a browser drops the scheme's own port
        assert driver.current_url == f"http://{main}{shown}/p/q?x=1", driver.current_url
        assert '"path": "/p/q?x=1"' in driver.page_source, driver.page_source
    finally:
        driver.quit()


def check_access(host, main: str, right: dict) -> None:
    status, headers, _ = get(host, main)
    assert status == 401 and headers.get("www-authenticate", "").startswith("Basic"), headers
    assert get(host, main, Authorization=basic("alice", "wrong"))[0] == 401
    assert get(host, main, **right)[0] == 200
    # The address HAProxy sees decides, whatever the client claims.
    forged = {"X-SWS-Client": INSIDE, "X-Forwarded-For": INSIDE, **right}
    assert get(host, main, source=OUTSIDE, **forged)[0] == 403
    assert get(host, main, source=OUTSIDE)[0] == 403


def check_error_page(host, alice, name: str, main: str, right: dict, page: str) -> None:
    """No container answers (killed: the engine does not restart a killed one): the user's
    page with 502; the agent's pass starts the service again."""
    for container in containers_of(name):
        docker("kill", container, check=False)
    status, _, body = until(
        lambda: get(host, main, **right), lambda a: a[0] == 502, what="the error page"
    )
    assert page.encode() in body, body
    passes_until(host, lambda: get(host, main, **right)[0] == 200, what="the service's return")


def check_pages_during_a_recreate(host, alice, spec: dict, main: str, right: dict, page: str):
    """An update of a service with a volume stops the old container before the new one
    starts: meanwhile the domain answers the maintenance page, 503 with Retry-After."""
    generation = alice.service(spec["name"])["generation"] + 1
    alice.apply(**{**spec, "env": [{"name": "GREETING", "value": "Hi"}]})

    def updated() -> bool:
        shown = alice.service(spec["name"])
        return shown["status"] == "running" and shown["applied_generation"] == generation

    passes = threading.Thread(target=passes_until, args=(host, updated), daemon=True)
    passes.start()
    seen = []
    while passes.is_alive():
        answer = get(host, main, **right)
        if answer[0] == 503:
            seen.append(answer)
        time.sleep(0.02)
    passes.join()
    assert updated(), host.explain(spec["name"])
    assert seen, "no 503 during the recreate"
    assert all(page.encode() in b and h.get("retry-after") for _, h, b in seen), seen[:3]
    assert b'"greeting": "Hi"' in get(host, main, **right)[2]


def check_maintenance_while_stopped(host, alice, name: str, alias: str, right: dict, page: str):
    assert alice.api("POST", f"/services/{name}/stop").status_code in (200, 202)
    passes_until(host, lambda: alice.service(name)["status"] == "stopped", what="the stop")
    status, headers, body = get(host, alias, **right)
    assert status == 503 and headers.get("retry-after") and page.encode() in body, (status, body)
    assert get(host, alias)[0] == 401  # still behind its access control
