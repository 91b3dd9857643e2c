"""swsctl over https: a private CA made with openssl, a real TLS terminator, the live API.

The terminator is a small TLS-wrapped HTTP forwarder in a thread standing in for whatever
terminates TLS in front of the apiserver (the load balancer in production): the client
side is real TLS with a real certificate chain, which is what swsctl's --ca-cert is about.
"""

from __future__ import annotations

import http.client
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.integration.test_cli_commands import (  # noqa: F401 (fixtures)
    api,
    config_file,
    no_env_overrides,
    swsctl,
    user,
    write_definition,
)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


def make_ca(directory: Path, name: str) -> Path:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN=SWS test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem"


def make_server_cert(directory: Path, ca: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by the CA `ca`."""
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "server.pem", directory / "server.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A private CA with a server certificate, and an unrelated CA that vouches for nothing."""
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory, "ca")
    other_ca = make_ca(directory, "other-ca")
    cert, key = make_server_cert(directory, "ca")
    return {"ca": str(ca), "other_ca": str(other_ca), "cert": str(cert), "key": str(key)}


class Forward(BaseHTTPRequestHandler):
    """Forwards each request to the plain-HTTP apiserver behind it and relays the answer."""

    protocol_version = "HTTP/1.1"
    backend: tuple[str, int]

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        upstream = http.client.HTTPConnection(*self.backend, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = do_POST = _forward

    def log_message(self, *args):
        pass


class TlsTerminator(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Clients that reject our certificate hang up mid-handshake: expected here.
        pass


def start_terminator(api_url: str, pki: dict, host: str = "127.0.0.1"):
    """A TLS terminator on `host` forwarding to the API; returns (server, thread, address)."""
    backend = urlsplit(api_url)
    handler = type("ForwardToApi", (Forward,), {"backend": (backend.hostname, backend.port)})
    server = TlsTerminator((host, 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["cert"], pki["key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"https://{host}:{server.server_address[1]}"


def stop_terminator(server, thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def https_api(api, pki):  # noqa: F811 (pytest fixture)
    """The live API behind a TLS terminator; yields its https:// address."""
    server, thread, address = start_terminator(api.url, pki)
    yield address
    stop_terminator(server, thread)


@pytest.fixture
def https_env(user, https_api):  # noqa: F811
    return {**user.env, "SWS_URL": https_api}


def test_https_with_the_private_ca_works_for_every_command(user, https_env, pki, tmp_path):  # noqa: F811
    path = write_definition(tmp_path / "web.yaml", user)
    name = user.service_name()
    applied = swsctl(["apply", path, "--ca-cert", pki["ca"]], https_env)
    assert applied.exit_code == 0, applied.output
    assert "created (generation 1)" in applied.output
    env = {**https_env, "SWS_CA_CERT": pki["ca"]}  # the variable works as the option does
    assert name in swsctl(["ls"], env).output
    assert "Status:             pending" in swsctl(["get", name], env).output
    assert swsctl(["delete", name], env).exit_code == 0


def test_an_untrusted_certificate_is_the_tls_exit_code_with_a_clear_message(https_env):
    result = swsctl(["ls"], https_env)
    assert result.exit_code == 4
    message = result.stderr
    assert message.startswith("Error: TLS failed with https://127.0.0.1:")
    assert "certificate could not be verified" in message
    assert "--ca-cert" in message
    assert "Traceback" not in message


def test_a_ca_that_did_not_sign_the_certificate_is_named(https_env, pki):
    result = swsctl(["ls", "--ca-cert", pki["other_ca"]], https_env)
    assert result.exit_code == 4
    assert f"the CA certificate {pki['other_ca']} does not vouch for it" in result.stderr


def test_an_address_the_certificate_does_not_name_is_refused(user, api, pki):  # noqa: F811
    """Same CA, same certificate, but served on 127.0.0.2, which it does not name."""
    server, thread, address = start_terminator(api.url, pki, host="127.0.0.2")
    try:
        result = swsctl(["ls", "--ca-cert", pki["ca"]], {**user.env, "SWS_URL": address})
    finally:
        stop_terminator(server, thread)
    assert result.exit_code == 4
    assert "mismatch" in result.stderr
    assert "TLS failed" in result.stderr
    assert "the name the certificate was issued for" in result.stderr


def test_https_to_a_plain_http_server_says_so(user, api):  # noqa: F811
    address = api.url.replace("http://", "https://")
    result = swsctl(["ls"], {**user.env, "SWS_URL": address})
    assert result.exit_code == 4
    assert "is an https server listening there?" in result.stderr


def test_configure_saves_the_ca_certificate_with_the_https_address(user, https_api, pki):  # noqa: F811
    env = no_env_overrides(user)
    result = swsctl(
        ["configure", "--ca-cert", pki["ca"]], env, input=f"{https_api}\n{user.token}\n"
    )
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load(config_file(user).read_text())
    assert saved == {"url": https_api, "token": user.token, "ca_cert": pki["ca"]}
    assert swsctl(["whoami"], env).output.startswith(user.name)


def test_configure_against_an_untrusted_https_address_saves_nothing(user, https_api):  # noqa: F811
    env = no_env_overrides(user)
    result = swsctl(["configure"], env, input=f"{https_api}\n{user.token}\n")
    assert result.exit_code == 4
    assert "TLS failed" in result.output
    assert not config_file(user).exists()
