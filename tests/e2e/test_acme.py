"""ACME end to end (issue 15) against a real ACME server: Debian's pebble, with
pebble-challtestsrv as its DNS (every test domain points at 127.0.0.1, one at another address).

- `sws-agent certs` orders a certificate for a service that asks for one, pebble validates
  HTTP-01 through the real edge (port 80: HAProxy, either proxy), the agent's pass serves it
  on 443, and the chain verifies against pebble's root with Python's ssl and curl;
- a forced renewal goes live under load with 0 failed requests;
- nothing is ordered for a domain that does not resolve to this host, and the refusal shows
  in the certificate's state with a backoff.
Config and certificates are made here; pebble listens on loopback ports of its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.e2e import test_https as https_tests
from tests.e2e.test_agent import domain, unique
from tests.e2e.test_https import context, https, https_load
from tests.fixtures.certs import TestCA

pytestmark = pytest.mark.e2e

# The HTTPS tests' fixtures: the bootstrapped host, its HTTPS settings, the echo service image.
agent_host = https_tests.agent_host
tls = https_tests.tls
tls_host = https_tests.tls_host
echo_image = https_tests.echo_image

SWS_AGENT = str(Path(sys.executable).parent / "sws-agent")
PEBBLE_PORT, PEBBLE_MANAGEMENT, DNS_PORT, DNS_MANAGEMENT = 14107, 15107, 8153, 8155


def wait_for(url: str, verify) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(url, verify=verify, timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory, bootstrapped_host):
    work = tmp_path_factory.mktemp("pebble")
    listener = TestCA("pebble listener CA")
    issued = listener.issue("localhost")
    (work / "cert.pem").write_text(issued.chain_pem)
    (work / "key.pem").write_text(issued.key_pem)
    (work / "listener-ca.pem").write_text(listener.pem)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{PEBBLE_PORT}",
            "managementListenAddress": f"127.0.0.1:{PEBBLE_MANAGEMENT}",
            "certificate": str(work / "cert.pem"),
            "privateKey": str(work / "key.pem"),
            # HTTP-01 goes to the host's own HTTP port: the real edge answers it.
            "httpPort": bootstrapped_host.http_port,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble.json").write_text(json.dumps(config))
    dns = subprocess.Popen(
        ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{DNS_PORT}", "-http01", "", "-https01", "",
         "-tlsalpn01", "", "-management", f"127.0.0.1:{DNS_MANAGEMENT}", "-defaultIPv6", "",
         "-defaultIPv4", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Every order reuses a valid authorization of the same domain, as Let's Encrypt does for
    # 30 days (pebble's default is half of them): a renewal must not answer it again.
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "100",
    }
    log = (work / "pebble.log").open("w")  # closed with pebble, below
    ca = subprocess.Popen(
        ["pebble", "-config", str(work / "pebble.json"), "-dnsserver", f"127.0.0.1:{DNS_PORT}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        bundle = str(work / "listener-ca.pem")
        wait_for(f"https://localhost:{PEBBLE_PORT}/dir", bundle)
        root = requests.get(
            f"https://localhost:{PEBBLE_MANAGEMENT}/roots/0", verify=bundle, timeout=5
        ).text
        (work / "root.pem").write_text(root)
        yield {
            "directory": f"https://localhost:{PEBBLE_PORT}/dir",
            "bundle": bundle,
            "root": root,
            "root_file": str(work / "root.pem"),
            "log": work / "pebble.log",
        }
    finally:
        for process in (ca, dns):
            process.terminate()
            process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def acme_host(tls_host, pebble, tmp_path_factory):
    config = yaml.safe_load(tls_host.config.read_text())
    config.update(
        {
            "acme_directory": pebble["directory"],
            "acme_ca_bundle": pebble["bundle"],
            "acme_dns_server": f"127.0.0.1:{DNS_PORT}",
            "acme_backoff": 60,
        }
    )
    path = tmp_path_factory.mktemp("acme-agent") / "agent.yml"
    path.write_text(yaml.safe_dump(config))
    return dataclasses.replace(tls_host, config=path)


def certs(host, *args: str) -> dict:
    result = subprocess.run(
        [SWS_AGENT, "certs", "--config", str(host.config), *args],
        capture_output=True, text=True, env=host.env(), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def acme_service(acme_host, echo_image):
    name = unique("acme")
    spec = {
        "name": name,
        "port": 8080,
        "domain": domain(name),
        "image": echo_image,
        "tls": {"certificate": "acme", "redirect": True},
    }
    answer = acme_host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code == 201, answer.text
    acme_host.run_pass()
    acme_host.assert_running(name)
    yield name
    acme_host.delete(name)
    acme_host.run_pass()


def certificate(host, name) -> dict:
    answer = host.api("GET", f"/services/{name}/certificate")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_certificate_is_issued_through_the_edge_and_verifies_against_pebble(
    acme_host, acme_service, pebble, tls
):
    done = certs(acme_host)
    assert done["issued"] == [acme_service], (done, pebble["log"].read_text()[-3000:])
    shown = certificate(acme_host, acme_service)
    assert shown["source"] == "acme" and shown["state"] == "issued" and shown["not_after"]
    acme_host.run_pass()
    name = domain(acme_service)
    status, _, body, fingerprint = https(name, tls["port"], context(cadata=pebble["root"]))
    assert status == 200 and json.loads(body)["X-Forwarded-Proto"] == "https"
    assert fingerprint == shown["fingerprint"]
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", pebble["root_file"],
         "--resolve", f"{name}:{tls['port']}:127.0.0.1", f"https://{name}:{tls['port']}/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr
    # Nothing due: a second round orders nothing.
    assert certs(acme_host)["issued"] == []


def test_a_forced_renewal_goes_live_under_load_with_no_failed_request(
    acme_host, acme_service, pebble, tls
):
    name = domain(acme_service)
    ctx = context(cadata=pebble["root"])
    before = https(name, tls["port"], ctx)[3]
    with https_load(name, tls["port"], ctx) as results:
        # The order reuses the first one's authorization (PEBBLE_AUTHZREUSE above).
        renewed = certs(acme_host, "--renew", acme_service)
        assert renewed["issued"] == [acme_service], (renewed, pebble["log"].read_text()[-2000:])
        acme_host.run_pass()
        time.sleep(1)
    assert results["failed"] == [] and results["ok"] > 50, results
    after = https(name, tls["port"], ctx)[3]
    assert after != before and after == certificate(acme_host, acme_service)["fingerprint"]


def test_nothing_is_ordered_for_a_domain_that_points_elsewhere(acme_host, echo_image):
    name = unique("away")
    requests.post(
        f"http://127.0.0.1:{DNS_MANAGEMENT}/add-a",
        json={"host": domain(name) + ".", "addresses": ["192.0.2.10"]},
        timeout=5,
    ).raise_for_status()
    spec = {
        "name": name,
        "port": 8080,
        "domain": domain(name),
        "image": echo_image,
        "tls": {"certificate": "acme"},
    }
    answer = acme_host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code == 201, answer.text
    try:
        done = certs(acme_host)
        assert name in done["not_here"] and "192.0.2.10" in done["not_here"][name]
        shown = certificate(acme_host, name)
        assert shown["state"] == "failed" and "not requested" in shown["message"]
        assert shown["next_attempt_at"] and shown["fingerprint"] is None
        # Backing off: the next round does not ask again.
        assert name not in certs(acme_host)["not_here"]
    finally:
        acme_host.delete(name)


def test_the_api_domains_certificate_comes_from_acme_when_the_host_says_so(
    acme_host, bootstrapped_host, pebble, tls, tmp_path
):
    """sws_api_certificate: acme. The bootstrap's local-CA certificate serves until the order
    succeeds; pebble validates HTTP-01 on the API domain through the real edge; the agent's
    pass gives the new pair to HAProxy (admin socket, no roll); swsctl then works over HTTPS
    trusting pebble's root alone. The local pair is put back afterwards (the other HTTPS tests
    use it)."""
    api = bootstrapped_host.api_domain
    config = yaml.safe_load(acme_host.config.read_text())
    config.update({"api_domain": api, "api_certificate": "acme"})
    path = tmp_path / "agent.yml"
    path.write_text(yaml.safe_dump(config))
    host = dataclasses.replace(acme_host, config=path)
    files = [tls["dir"] / f"api-{api}.{kind}" for kind in ("crt", "key")]
    saved = [f.read_bytes() for f in files]
    state = Path(config["state_dir"]) / "acme" / f"api-{api}.json"
    try:
        done = certs(host)
        assert done["api"]["state"] == "issued", (done, pebble["log"].read_text()[-3000:])
        assert oct(files[1].stat().st_mode & 0o777) == "0o600"
        host.run_pass()
        status, _, body, fingerprint = https(
            api, tls["port"], context(cadata=pebble["root"]), "/v1/health"
        )
        assert status == 200 and fingerprint == done["api"]["fingerprint"]
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(tmp_path),
            "SWS_URL": f"https://{api}:{tls['port']}",
            "SWS_TOKEN": bootstrapped_host.admin_token,
            "SWS_CA_CERT": pebble["root_file"],
        }
        listed = subprocess.run(
            [https_tests.SWSCTL, "ls", "-o", "json"], env=env, capture_output=True, text=True
        )
        assert listed.returncode == 0, listed.stderr
        # Issued and far from its end: the next round orders nothing.
        assert certs(host)["api"]["state"] == "issued"
        assert json.loads(state.read_text())["fingerprint"] == fingerprint
    finally:
        for file, data in zip(files, saved, strict=True):
            file.write_bytes(data)
        state.unlink(missing_ok=True)
        host.run_pass()  # the local pair back in HAProxy
    assert https(api, tls["port"], context(tls["ca"]), "/v1/health")[0] == 200
