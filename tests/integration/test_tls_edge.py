"""The HTTPS edge (issue 15) from the roles' own templates, in throwaway containers: HAProxy
(haproxy.cfg.j2, ending TLS with a crt-list) in front of two nginx proxies (nginx.conf.j2) and
routes rendered by the agent's render.py, with a real service behind them; certificates given
to HAProxy by the agent's own certs.py (files, then the admin socket). Needs the images on the
engine, not a bootstrapped host (tests/e2e/test_https.py and test_acme.py run the same on the
real host).

- a route with a certificate: HTTPS with SNI, `X-Forwarded-Proto: https` and the client's
  address at the service, HSTS, 308 from plain HTTP; TLS 1.2/1.3 only; no handshake for a name
  without a certificate;
- ACME HTTP-01 against Debian's pebble through this edge (both proxies answer the challenge),
  the chain verified against pebble's root with Python's ssl and curl;
- certificates changed three times under load through the admin socket, with no roll and no
  reload: 0 failed requests, every one a new TLS handshake;
- one HTTPS keep-alive connection carries requests across two rolls of both proxies, never
  closed (HAProxy holds it; the proxies behind it reload).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import jinja2
import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from swsagent import acme, acmeorder, certs, collection
from swsagent.plan import Route
from swsagent.render import routes_conf
from swsagent.tlsroutes import EdgeTls
from swscore.certificates import check
from swscore.spec import TlsSettings
from tests.fixtures.certs import TestCA
from tests.fixtures.contract import repo_contract, repo_names
from tests.integration.test_routes_nginx import IMAGE as NGINX_IMAGE
from tests.integration.test_routes_nginx import write_auth_cache

REPO = Path(__file__).resolve().parents[2]
NGINX, HAPROXY, PYTHON = (
    NGINX_IMAGE,
    "sws-local/haproxy:2.6-1",
    "sws-local/python:3.11-1",
)
PROXIES = ("tls-edge-p1", "tls-edge-p2")
WEB, ISSUED = "web.edge.test", "acme.edge.test"
APP_DIR = REPO / "tests" / "fixtures" / "echoapp"


def have(image: str) -> bool:
    out = subprocess.run(["docker", "images", "-q", image], capture_output=True, text=True)
    return bool(out.stdout.strip())


pytestmark = pytest.mark.skipif(
    not all(have(i) for i in (NGINX, HAPROXY, PYTHON)) or not shutil.which("pebble"),
    reason="needs the proxy, load balancer and python images and Debian's pebble",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def role_values(role: str, **overrides) -> dict:
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    values = {k: v for k, v in defaults.items() if not (isinstance(v, str) and "{{" in v)}
    # sws_proxy_conf_dir comes from sws.yml's sws_proxy_conf_mount (the host contract).
    contract = repo_contract()
    conf = {
        "sws_proxy_conf_dir": contract.proxy_conf_mount,
        "sws_loadbalancer_gid": contract.edge_gid,
        "sws_proxy_api_upload_max_body_size": contract.backup_upload_max.removesuffix("i"),
    }
    return {**values, **conf, "ansible_managed": "test", **overrides}


def render(role: str, template: str, values: dict) -> str:
    path = REPO / "roles" / role / "templates" / template
    return jinja2.Template(path.read_text(), undefined=jinja2.StrictUndefined).render(values)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


class Edge:
    def __init__(self, root: Path):
        self.root, self.conf = root, root / "conf"
        self.http, self.https = free_port(), free_port()
        self.ca = TestCA("edge test CA")
        self.tls = root / "haproxy-tls"
        self.fingerprints: dict[str, str] = {}
        self.pems: dict[str, certs.EdgeCertificate] = {}
        self.api: certs.EdgeCertificate | None = None
        self.address = ""

    def install(self, domain: str, chain_pem: str, key_pem: str | bytes, tell=True) -> None:
        """What the agent's pass does (certs.sync, after opening the sealed key): the PEMs and
        the crt-list root-only, then HAProxy told through its admin socket."""
        key = key_pem.encode() if isinstance(key_pem, str) else key_pem
        path = self.tls / certs.SERVICES_SUBDIR / f"{domain}.pem"
        self.pems[domain] = certs.edge_certificate(path, domain, chain_pem.encode(), key)
        self.fingerprints[domain] = check(domain, chain_pem, key.decode()).fingerprint
        wanted = [self.api, *self.pems.values()]
        text = certs.crt_list_text(self.tls, "api.edge.test", list(self.pems.values()))
        certs.write_files(self.tls, wanted, text)
        if tell:
            changed, problems = certs.tell_haproxy(
                self.root / "run" / "admin.sock", self.tls, wanted
            )
            assert problems == [] and changed == [domain], (changed, problems)

    def write_routes(self) -> None:
        routes = [
            Route(WEB, "web", self.address, 8080, tls=TlsSettings(redirect=True, hsts="1d")),
            Route(ISSUED, "issued", self.address, 8080, tls=TlsSettings(certificate="acme")),
        ]
        edge = EdgeTls(default_source="uploaded", certificates=dict(self.fingerprints))
        (self.conf / "live" / "routes.conf").write_text(routes_conf(routes, repo_names(), edge))

    def admin(self, command: str) -> str:
        return collection.haproxy().command(str(self.root / "run" / "admin.sock"), command)

    def proxies_up(self) -> int:
        """How many proxies HAProxy sees UP (0 while it is not answering yet)."""
        try:
            rows = collection.haproxy().stats(str(self.root / "run" / "admin.sock"), "proxies")
        except OSError:
            return 0
        return sum(row.get("status", "").startswith("UP") for row in rows.values())

    def reload(self, proxy: str) -> None:
        docker("exec", proxy, "nginx", "-q", "-t", "-c", "/etc/nginx/sws/nginx.conf")
        docker("exec", proxy, "nginx", "-s", "reload", "-c", "/etc/nginx/sws/nginx.conf")

    def roll(self) -> None:
        """As the agent rolls the proxies: drain one, reload it, ready again; then the next."""
        for proxy in PROXIES:
            self.admin(f"set server proxies/{proxy} state drain")
            time.sleep(2.5)  # the proxies' keepalive_time: busy clients move over
            self.reload(proxy)
            time.sleep(0.5)
            self.admin(f"set server proxies/{proxy} state ready")


def echo_image() -> str:
    digest = hashlib.sha256(
        b"".join((APP_DIR / f).read_bytes() for f in ("app.py", "Dockerfile"))
    ).hexdigest()[:12]
    image = f"sws-test/echoapp:{digest}"
    if not have(image):
        docker("build", "-q", "--build-arg", f"BASE={PYTHON}", "-t", image, str(APP_DIR))
    return image


def remove_containers() -> None:
    for name in (*PROXIES, "tls-edge-lb", "tls-edge-app"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    edge = Edge(tmp_path_factory.mktemp("tls-edge"))
    conf = edge.conf
    for sub in ("live", "candidate", "acme-challenge"):
        (conf / sub).mkdir(parents=True, exist_ok=True)
    for proxy in PROXIES:
        (edge.root / "sockets" / proxy).mkdir(parents=True)
    (edge.root / "run").mkdir()
    api = edge.ca.issue("api.edge.test")
    edge.api = certs.edge_certificate(
        edge.tls / certs.API_PEM, "api.edge.test", api.chain_pem.encode(), api.key_pem.encode()
    )
    proxy = role_values(
        "sws_proxy",
        sws_proxy_routes_set="live",
        sws_proxy_routes_socket="/run/sws/proxy/http.sock",
        sws_proxy_healthz_socket="/run/sws/proxy/healthz.sock",
        sws_proxy_https_socket_path="/run/sws/proxy/https.sock",
        sws_proxy_api_domain="api.edge.test",
        # The API's plain HTTP redirected, as on a host whose API certificate is ACME's.
        sws_proxy_api_redirects=True,
        sws_proxy_api_https_port=edge.https,
        sws_proxy_apiserver_socket="/run/sws/apiserver/http.sock",
        sws_proxy_worker_processes=1,
        sws_proxy_auth_cache=True,  # the offline image has lua
    )
    (conf / "nginx.conf").write_text(render("sws_proxy", "nginx.conf.j2", proxy))
    (conf / "upgrade.conf").write_text(render("sws_proxy", "upgrade.conf.j2", proxy))
    write_auth_cache(conf, proxy)
    lb = role_values(
        "sws_loadbalancer",
        sws_loadbalancer_http_port=edge.http,
        sws_loadbalancer_https_port=edge.https,
        sws_loadbalancer_backend="proxies",
        sws_loadbalancer_tls_backend="proxies_tls",
        sws_loadbalancer_proxies=list(PROXIES),
        sws_loadbalancer_proxy_sockets_dir=str(edge.root / "sockets"),
        sws_loadbalancer_proxy_socket="http.sock",
        sws_loadbalancer_proxy_tls_socket="https.sock",
        sws_loadbalancer_socket=str(edge.root / "run" / "admin.sock"),
        sws_loadbalancer_state_file=str(edge.root / "run" / "server-state"),
        sws_loadbalancer_tls_dir=str(edge.tls),
    )
    # Root workers here: the test's directories are not the haproxy user's.
    cfg = render("sws_loadbalancer", "haproxy.cfg.j2", lb)
    root_workers = re.sub(r"(?m)^    (user|group|gid) .*\n", "", cfg)
    assert root_workers != cfg, "the workers' user and group lines moved"
    (edge.root / "haproxy.cfg").write_text(root_workers)
    remove_containers()
    try:
        docker("run", "-d", "--name", "tls-edge-app", echo_image())
        edge.address = docker(
            "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "tls-edge-app"
        ).strip()
        issued = edge.ca.issue(WEB)
        edge.install(WEB, issued.chain_pem, issued.key_pem, tell=False)  # HAProxy reads the files
        edge.write_routes()
        for proxy in PROXIES:
            docker(
                "run", "-d", "--name", proxy, "--network", "host",
                "-v", f"{conf}:/etc/nginx/sws",
                "-v", f"{edge.root / 'sockets' / proxy}:/run/sws/proxy",
                NGINX, "nginx", "-c", "/etc/nginx/sws/nginx.conf", "-g", "daemon off;",
            )  # fmt: skip
        docker(
            "run", "-d", "--name", "tls-edge-lb", "--network", "host", "--user", "root",
            "-v", f"{edge.root}:{edge.root}", HAPROXY,
            "haproxy", "-W", "-db", "-f", str(edge.root / "haproxy.cfg"),
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while edge.proxies_up() < 2:
            assert time.monotonic() < deadline, "HAProxy does not see both proxies up"
            time.sleep(0.3)
        yield edge
    finally:
        remove_containers()


def context(*cas: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    for pem in cas:
        ctx.load_verify_locations(cadata=pem)
    return ctx


def get(edge: Edge, name: str, ctx: ssl.SSLContext, path: str = "/") -> tuple[str, dict, bytes]:
    """One request on a new TLS connection (SNI and the check use the name)."""
    raw = socket.create_connection(("127.0.0.1", edge.https), 10)
    with ctx.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    # HAProxy sends header names in lower case (HTTP/1 names are case-insensitive).
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return lines[0].split(" ")[1], headers, body


def test_https_reaches_the_service_with_its_scheme_and_address(edge):
    status, headers, body = get(edge, WEB, context(edge.ca.pem), "/x?y=1")
    seen = json.loads(body)
    assert status == "200" and seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Real-IP"] == "127.0.0.1" and seen["Host"] == WEB
    assert headers["strict-transport-security"] == "max-age=86400"
    plain = requests.get(
        f"http://127.0.0.1:{edge.http}/a/b?c=d", headers={"Host": WEB}, allow_redirects=False
    )
    assert plain.status_code == 308 and plain.headers["Location"] == f"https://{WEB}/a/b?c=d"


def test_the_apis_plain_http_is_redirected_but_its_acme_answers_are_not(edge):
    """Issue 25: the API domain on plain HTTP answers 308 (a POST stays a POST, with its
    path and query) once its certificate is one clients trust; HTTP-01 answers do not move."""
    api = f"http://127.0.0.1:{edge.http}"
    moved = requests.post(
        f"{api}/v1/session?next=%2Fui", headers={"Host": "api.edge.test"}, json={"token": "x"},
        allow_redirects=False,
    )  # fmt: skip
    assert moved.status_code == 308, moved.text
    assert moved.headers["Location"] == f"https://api.edge.test:{edge.https}/v1/session?next=%2Fui"
    token = edge.conf / "acme-challenge" / "api-token"
    token.write_text("api-token.thumbprint")
    try:
        answer = requests.get(
            f"{api}/.well-known/acme-challenge/api-token", headers={"Host": "api.edge.test"},
            allow_redirects=False,
        )  # fmt: skip
        assert answer.status_code == 200 and answer.text == "api-token.thumbprint"
    finally:
        token.unlink()


def test_only_tls_12_and_13_and_no_handshake_for_an_unknown_name(edge):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = context(edge.ca.pem)
        ctx.minimum_version = ctx.maximum_version = version
        assert get(edge, WEB, ctx)[0] == "200"
    curl = subprocess.run(
        ["curl", "-sS", "--tlsv1.1", "--tls-max", "1.1", "-k",
         "--resolve", f"{WEB}:{edge.https}:127.0.0.1", f"https://{WEB}:{edge.https}/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert curl.returncode != 0 and "protocol version" in curl.stderr
    with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
        get(edge, "nobody.edge.test", context(edge.ca.pem))


def test_a_certificate_haproxy_refuses_wedges_no_domain(edge):
    """HAProxy refuses a PEM over its buffer (about 16 KB) in `set ssl cert`; the store made for
    it goes again, and an empty store left from before is filled, so the domain's next valid
    certificate is served (issue 25: 'already exists!' for 8 passes)."""
    haproxy, sock = collection.haproxy(), str(edge.root / "run" / "admin.sock")
    issued = edge.ca.issue("wedge.edge.test")
    good = issued.chain_pem + issued.key_pem
    oversized = good + "".join(
        f"# padding line {i:05d} outside any PEM block\n" for i in range(600)
    )
    for leftover in (False, True):
        path = str(edge.tls / certs.SERVICES_SUBDIR / f"wedge-{leftover}.pem")
        if leftover:  # what a refused upload left before this fix
            edge.admin(f"new ssl cert {path}")
        else:
            with pytest.raises((ValueError, OSError)):
                haproxy.put_cert(sock, path, oversized, new=True)
        haproxy.put_cert(sock, path, good, new=True)
        leaf = x509.load_pem_x509_certificate(issued.chain_pem.encode())
        assert haproxy.cert_sha1(sock, path) == leaf.fingerprint(hashes.SHA1()).hex().upper()
        edge.admin(f"del ssl cert {path}")


@pytest.fixture(scope="module")
def pebble(edge, tmp_path_factory):
    work = tmp_path_factory.mktemp("pebble")
    listener = TestCA("pebble listener CA")
    issued = listener.issue("localhost")
    (work / "cert.pem").write_text(issued.chain_pem)
    (work / "key.pem").write_text(issued.key_pem)
    (work / "listener.pem").write_text(listener.pem)
    port, management, dns = free_port(), free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(work / "cert.pem"),
            "privateKey": str(work / "key.pem"),
            "httpPort": edge.http,  # HTTP-01 through this edge
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble.json").write_text(json.dumps(config))
    resolver = subprocess.Popen(
        ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns}", "-http01", "", "-https01", "",
         "-tlsalpn01", "", "-management", f"127.0.0.1:{free_port()}", "-defaultIPv6", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log = (work / "pebble.log").open("w")  # closed with pebble, below
    server = subprocess.Popen(
        ["pebble", "-config", str(work / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
        env={**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        bundle = str(work / "listener.pem")
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"https://localhost:{port}/dir", verify=bundle, timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, (work / "pebble.log").read_text()
                time.sleep(0.2)
        root = requests.get(f"https://localhost:{management}/roots/0", verify=bundle).text
        (work / "root.pem").write_text(root)
        yield (
            acme.AcmeSettings(
                directory=f"https://localhost:{port}/dir",
                state_dir=work / "state",
                tls_dir=work,
                proxies=PROXIES,
                proxy_files=repo_names().proxy_files,
                ca_bundle=bundle,
                dns_server=f"127.0.0.1:{dns}",
            ),
            root,
            work,
        )
    finally:
        for process in (server, resolver):
            process.terminate()
            process.wait(10)
        log.close()


def test_acme_http01_through_the_edge_verifies_against_pebbles_root(edge, pebble):
    settings, root, work = pebble
    assert acmeorder.resolves_here(ISSUED, settings) == (True, "")
    chain_pem, key_pem = acmeorder.issue(acmeorder.account_client(settings), ISSUED, settings)
    assert list((edge.conf / "acme-challenge").iterdir()) == [], "answers are removed"
    answered = {p: docker("logs", p).count("acme-challenge") for p in PROXIES}
    assert sum(answered.values()) >= 1, answered
    edge.install(ISSUED, chain_pem, key_pem)
    edge.write_routes()  # its first certificate: the route now listens on the https socket
    for proxy in PROXIES:
        edge.reload(proxy)
    time.sleep(1)  # the reload's new workers take over
    status, _, body = get(edge, ISSUED, context(root))
    assert status == "200" and json.loads(body)["X-Forwarded-Proto"] == "https"
    curl = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(work / "root.pem"),
         "--resolve", f"{ISSUED}:{edge.https}:127.0.0.1", f"https://{ISSUED}:{edge.https}/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert curl.returncode == 0, curl.stderr


def test_certificate_changes_under_load_drop_no_request(edge):
    renewing = TestCA("renewing CA")
    ctx = context(edge.ca.pem, renewing.pem)
    first = renewing.issue(WEB)
    edge.install(WEB, first.chain_pem, first.key_pem)
    routes = (edge.conf / "live" / "routes.conf").read_text()
    edge.write_routes()
    assert (edge.conf / "live" / "routes.conf").read_text() == routes, "a renewal rolls nothing"
    results: dict = {"ok": 0, "failed": []}
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status = get(edge, WEB, ctx)[0]
                if status == "200":
                    results["ok"] += 1
                else:
                    results["failed"].append(status)
            except OSError as err:
                results["failed"].append(repr(err))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    served = set()
    try:
        for _ in range(3):
            issued = renewing.issue(WEB)
            edge.install(WEB, issued.chain_pem, issued.key_pem)  # no roll, no reload
            time.sleep(1)
            served.add(edge.fingerprints[WEB])
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert results["failed"] == [] and results["ok"] > 100, results
    raw = socket.create_connection(("127.0.0.1", edge.https), 10)
    with ctx.wrap_socket(raw, server_hostname=WEB) as tls:
        leaf = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
    assert leaf == edge.fingerprints[WEB] and len(served) == 3


def test_one_https_keepalive_connection_lasts_across_rolls(edge):
    """HAProxy holds the client's TLS connection: the proxies behind it drain and reload, and
    the connection carries requests all along, never closed (http.client would open a new one,
    with the wrong name, if it were)."""
    issued = edge.ca.issue(WEB)
    edge.install(WEB, issued.chain_pem, issued.key_pem)
    ctx = context(edge.ca.pem)
    conn = http.client.HTTPSConnection("127.0.0.1", edge.https, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", edge.https), 10), server_hostname=WEB
    )
    first = conn.sock
    results: dict = {"ok": 0, "failed": []}
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                conn.request("GET", "/keepalive", headers={"Host": WEB})
                response = conn.getresponse()
                response.read()
                if response.status == 200 and conn.sock is first:
                    results["ok"] += 1
                else:
                    results["failed"].append((response.status, conn.sock is first))
            except (OSError, http.client.HTTPException) as err:
                results["failed"].append(repr(err))
                return
            time.sleep(0.01)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        for _ in range(2):
            edge.roll()
    finally:
        stop.set()
        worker.join()
        conn.close()
    assert results["failed"] == [] and results["ok"] > 100, results
