"""HTTPS end to end (issue 15) on the bootstrapped host: HAProxy ends TLS on port 443 with
each domain's certificate and passes the requests to the proxies' https sockets.

- the API domain answers with the bootstrap's certificate, verified against the local CA with
  Python's ssl and curl, and swsctl works over HTTPS with --ca-cert;
- only TLS 1.2 and 1.3 are spoken; a name with no certificate gets no handshake;
- a service with its own uploaded certificate (a test CA's) answers over HTTPS, learns the
  scheme and the client's address, redirects plain HTTP and sends HSTS; its key lies in
  HAProxy's directory root-only, and nowhere in the proxies;
- HTTP/2 by ALPN: the service and the API answer curl --http2 over HTTP/2, --http1.1 over 1.1;
- a new certificate goes live through the admin socket, with no roll, and 0 failed requests
  under load;
- one HTTPS keep-alive connection serves across a deploy that rolls the proxies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e import test_agent as agent_tests
from tests.e2e.conftest import fixture_image
from tests.e2e.test_agent import docker, domain, unique
from tests.faults.harness import wait_for
from tests.fixtures.certs import TestCA

pytestmark = pytest.mark.e2e

agent_host = agent_tests.agent_host
APP_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "echoapp"
SWSCTL = str(Path(sys.executable).parent / "swsctl")


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 for any name: SNI and the certificate check use the name."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext):
        super().__init__(name, port, context=context, timeout=10)
        self._context = context

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def context(cafile: str | None = None, cadata: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile, cadata=cadata)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def https(name, port, ctx, path="/", headers=None):
    conn = PinnedHTTPSConnection(name, port, ctx)
    try:
        conn.connect()
        # Read before the answer: a proxy being reloaded answers `Connection: close`, and
        # http.client then drops the socket as soon as the body is read.
        leaf = conn.sock.getpeercert(binary_form=True)
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        # Header names in lower case: HAProxy sends them so (HTTP/1 names are case-insensitive).
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, body, hashlib.sha256(leaf).hexdigest()
    finally:
        conn.close()


@contextlib.contextmanager
def https_load(name: str, port: int, ctx: ssl.SSLContext, clients: int = 4):
    """Four clients sending HTTPS requests (a new handshake each) to name until the block ends;
    yields {"ok": count, "failed": [what went wrong]}."""
    results = {"ok": 0, "failed": []}
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status = https(name, port, ctx)[0]
                if status == 200:
                    results["ok"] += 1
                else:
                    results["failed"].append(status)
            except (OSError, http.client.HTTPException) as err:
                results["failed"].append(repr(err))

    workers = [threading.Thread(target=load) for _ in range(clients)]
    for worker in workers:
        worker.start()
    try:
        yield results
    finally:
        stop.set()
        for worker in workers:
            worker.join()


@contextlib.contextmanager
def keepalive(name: str, port: int, ctx: ssl.SSLContext):
    """One HTTPS keep-alive connection sending requests to name until the block ends; yields
    {"ok": count, "failed": [...]}: a failure is an error, an answer other than 200, or the
    connection closed (http.client would open another; that counts as failed too)."""
    results = {"ok": 0, "failed": []}
    stop = threading.Event()
    conn = PinnedHTTPSConnection(name, port, ctx)
    conn.connect()
    first = conn.sock

    def load() -> None:
        while not stop.is_set():
            try:
                conn.request("GET", "/keepalive")
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as err:
                results["failed"].append(repr(err))
                return
            if response.status != 200 or conn.sock is not first:
                results["failed"].append((response.status, "same connection", conn.sock is first))
                return
            results["ok"] += 1
            time.sleep(0.01)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        yield results
    finally:
        stop.set()
        worker.join()
        conn.close()


@pytest.fixture(scope="module")
def tls(bootstrapped_host):
    settings = bootstrapped_host.settings
    return {
        "port": int(settings["sws_https_port"]),
        "dir": Path(settings["sws_tls_host_dir"]),
        "ca": str(Path(settings["sws_tls_host_dir"]) / "ca.crt"),
        "api_domain": bootstrapped_host.api_domain,
    }


@pytest.fixture(scope="module")
def tls_host(agent_host, bootstrapped_host, tmp_path_factory):
    """The agent host, with this session's agent config extended by the HTTPS settings."""
    config = yaml.safe_load(agent_host.config.read_text())
    config.update(agent_tests.https_agent_settings(bootstrapped_host.settings))
    path = tmp_path_factory.mktemp("tls-agent") / "agent.yml"
    path.write_text(yaml.safe_dump(config))
    return dataclasses.replace(agent_host, config=path)


@pytest.fixture(scope="module")
def echo_image(bootstrapped_host) -> str:
    return fixture_image(APP_DIR, "sws-test/echoapp", bootstrapped_host.images["python"])


@pytest.fixture(scope="module")
def ca():
    return TestCA("SWS e2e test CA")


@pytest.fixture(scope="module")
def secure(tls_host, echo_image, ca):
    """An echo service with redirect and HSTS and its own certificate, served over HTTPS."""
    name = unique("tls")
    spec = {
        "name": name,
        "port": 8080,
        "domain": domain(name),
        "image": echo_image,
        "tls": {"certificate": "uploaded", "redirect": True, "hsts": "1d"},
    }
    answer = tls_host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code == 201, answer.text
    tls_host.certify(name, ca)
    tls_host.run_pass()
    tls_host.assert_running(name)
    yield name
    tls_host.delete(name)
    tls_host.run_pass()


def test_the_api_answers_over_https_verified_against_the_local_ca(bootstrapped_host, tls):
    api = bootstrapped_host.api_domain
    status, _, body, _ = https(api, tls["port"], context(tls["ca"]), "/v1/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    resolve = f"{api}:{tls['port']}:127.0.0.1"
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", tls["ca"], "--resolve", resolve,
         f"https://{api}:{tls['port']}/v1/health"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    with pytest.raises(ssl.SSLCertVerificationError):
        https(api, tls["port"], context())  # the system's CAs do not vouch for it


def test_only_tls_12_and_13_are_spoken_and_unknown_names_get_no_handshake(bootstrapped_host, tls):
    api = bootstrapped_host.api_domain
    # curl for TLS 1.1: Python warns (DeprecationWarning, an error here) at TLSv1_1 settings.
    old = subprocess.run(
        ["curl", "-sS", "--tlsv1.1", "--tls-max", "1.1", "--cacert", tls["ca"],
         "--resolve", f"{api}:{tls['port']}:127.0.0.1", f"https://{api}:{tls['port']}/v1/health"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert old.returncode != 0 and "protocol version" in old.stderr, old.stderr
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = context(tls["ca"])
        ctx.minimum_version = ctx.maximum_version = version
        assert https(api, tls["port"], ctx, "/v1/health")[0] == 200
    with pytest.raises(ssl.SSLError):
        https("nothing-here.agent.test", tls["port"], context(tls["ca"]))


def test_swsctl_works_over_https_with_the_local_ca(bootstrapped_host, tls, tmp_path):
    url = f"https://{bootstrapped_host.api_domain}:{tls['port']}"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "SWS_URL": url,
        "SWS_TOKEN": bootstrapped_host.admin_token,
        "SWS_CA_CERT": tls["ca"],
    }
    listed = subprocess.run([SWSCTL, "ls", "-o", "json"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    unverified = {k: v for k, v in env.items() if k != "SWS_CA_CERT"}
    refused = subprocess.run([SWSCTL, "ls"], env=unverified, capture_output=True, text=True)
    assert refused.returncode == 4, refused.stderr


def test_a_service_with_its_own_certificate_answers_over_https(tls_host, secure, tls, ca, tmp_path):
    name = domain(secure)
    status, headers, body, _ = https(name, tls["port"], context(cadata=ca.pem), "/x?y=1")
    assert status == 200
    seen = json.loads(body)
    assert seen["X-Forwarded-Proto"] == "https" and seen["X-Real-IP"] == "127.0.0.1"
    assert headers["strict-transport-security"] == "max-age=86400"
    resolve = f"{name}:{tls['port']}:127.0.0.1"
    (tmp_path / "ca.pem").write_text(ca.pem)
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(tmp_path / "ca.pem"), "--resolve", resolve,
         f"https://{name}:{tls['port']}/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["X-Forwarded-Proto"] == "https"
    redirect = http.client.HTTPConnection(
        "127.0.0.1", int(tls_host.http.rsplit(":", 1)[1]), timeout=10
    )
    redirect.request("GET", "/a/b?c=d", headers={"Host": name})
    answer = redirect.getresponse()
    port = "" if tls["port"] == 443 else f":{tls['port']}"
    assert answer.status == 308 and answer.getheader("Location") == f"https://{name}{port}/a/b?c=d"
    redirect.close()


def test_http2_by_alpn_for_the_service_and_the_api_and_http11_still(secure, tls, ca, tmp_path):
    (tmp_path / "ca.pem").write_text(ca.pem)
    hosts = {domain(secure): str(tmp_path / "ca.pem"), tls["api_domain"]: tls["ca"]}

    def version(name: str, flag: str) -> str:
        curl = subprocess.run(
            ["curl", "-sS", "--fail", flag, "-o", "/dev/null", "-w", "%{http_version}",
             "--cacert", hosts[name], "--resolve", f"{name}:{tls['port']}:127.0.0.1",
             f"https://{name}:{tls['port']}/" + ("v1/health" if name == tls["api_domain"] else "")],
            capture_output=True, text=True,
        )  # fmt: skip
        assert curl.returncode == 0, curl.stderr
        return curl.stdout

    for name in hosts:
        assert (version(name, "--http2"), version(name, "--http1.1")) == ("2", "1.1"), name


def test_the_key_lies_in_haproxys_directory_root_only_and_never_in_the_store_in_clear(
    tls_host, secure, bootstrapped_host
):
    import psycopg2

    edge_dir = Path(bootstrapped_host.settings["sws_haproxy_tls_dir"])
    pem = edge_dir / "services" / f"{domain(secure)}.pem"
    info = pem.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    assert b"PRIVATE KEY" in pem.read_bytes()
    assert stat.S_IMODE(edge_dir.stat().st_mode) == 0o700
    assert f"{pem} {domain(secure)}" in (edge_dir / "crt-list").read_text()
    for proxy in tls_host.proxies:  # the proxies never see a key
        mounts = json.loads(docker("inspect", proxy))[0]["Mounts"]
        conf = next(m["Source"] for m in mounts if m["Destination"] == "/etc/nginx/sws")
        assert not (Path(conf) / "tls").exists()
    with psycopg2.connect(bootstrapped_host.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT key_sealed FROM certificates")
        assert all(b"PRIVATE KEY" not in bytes(k) for (k,) in cur.fetchall())
    conn.close()


def test_a_new_certificate_goes_live_with_no_failed_request_under_load(tls_host, secure, tls, ca):
    name = domain(secure)
    ctx = context(cadata=ca.pem)
    before = https(name, tls["port"], ctx)[3]
    with https_load(name, tls["port"], ctx) as results:
        time.sleep(1)
        new = tls_host.certify(secure, ca)["fingerprint"]
        report = tls_host.run_pass().stderr
        time.sleep(1)
    assert results["failed"] == [] and results["ok"] > 50, results
    # Through HAProxy's admin socket: the routes did not change, so nothing rolled.
    assert f"certificates_installed={name}" in report and "routes=rolled" not in report, report
    after = https(name, tls["port"], ctx)[3]
    assert after == new != before


def test_port_80_gives_the_clients_address_and_a_roll_keeps_https_keepalive(
    tls_host, echo_image, secure, ca, tls
):
    """On :80 HAProxy tells the proxies the client's address in X-SWS-Client (not a PROXY header:
    ARCHITECTURE.md, "Data path speed"): the service sees it in X-Real-IP and at the end of
    X-Forwarded-For, whatever X-SWS-Client the client sent, and never that header itself.
    Deploying that service rolls both proxies: meanwhile one HTTPS keep-alive connection to
    another service serves throughout (HAProxy holds it and ends its TLS)."""
    name = unique("addr")
    with keepalive(domain(secure), tls["port"], context(cadata=ca.pem)) as held:
        tls_host.apply(name, image=echo_image)
        report = tls_host.run_pass().stderr
    assert "routes=rolled" in report, report
    assert held["failed"] == [] and held["ok"] > 50, held
    try:
        tls_host.assert_running(name)
        answer = requests.get(
            f"{tls_host.http}/",
            headers={
                "Host": domain(name),
                "X-Forwarded-For": "192.0.2.7",
                "X-SWS-Client": "192.0.2.99",
                "X-Real-IP": "192.0.2.98",
                "Forwarded": "for=6.6.6.6;proto=https",
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        seen = answer.json()
        assert seen["X-Real-IP"] == "127.0.0.1", seen
        assert seen["X-Forwarded-For"] == "192.0.2.7, 127.0.0.1", seen
        assert seen["X-SWS-Client"] is None and seen["X-Forwarded-Proto"] == "http", seen
        # Forwarded is the edge's too (issue 25): a client's forged one never passes.
        assert seen["Forwarded"] == "for=127.0.0.1;proto=http", seen
    finally:
        tls_host.delete(name)
        tls_host.run_pass()


def test_a_removed_load_balancer_comes_back_serving_https_with_no_false_notice(
    tls_host, secure, tls, ca
):
    """The pass recreates a removed HAProxy with its TLS directory mounted: it loads the
    certificates from its crt-list as it starts, so a socket that is not there yet when the
    pass reaches its certificates is no notice ('HAProxy not told')."""
    docker("rm", "-f", "sws-loadbalancer")
    tls_host.run_pass()
    last = tls_host.last_passes()[0]
    assert "sws-loadbalancer" in last["changed"]["revived"], last
    assert "not told" not in (last["message"] or ""), last
    assert wait_for(lambda: https_answers(domain(secure), tls["port"], context(cadata=ca.pem)))
    api = https(tls["api_domain"], tls["port"], context(cafile=tls["ca"]), "/v1/health")
    assert api[0] == 200, api


def https_answers(name: str, port: int, ctx: ssl.SSLContext) -> bool:
    with contextlib.suppress(OSError, http.client.HTTPException):
        return https(name, port, ctx)[0] == 200
    return False
