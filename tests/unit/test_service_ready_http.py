"""sws_service_ready's health check path: an HTTP GET to a real local server must answer 2xx or
3xx; anything else (an error status, no HTTP at all) is not ready, and says what it got."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from swsagent import collection


def load_module():
    return collection.module_utils("readiness")


class Answers(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        code = {"/ok": 200, "/moved": 302, "/broken": 500, "/missing": 404}[self.path]
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "ready"), [("/ok", True), ("/moved", True), ("/broken", False), ("/missing", False)]
)
def test_a_health_path_must_answer_2xx_or_3xx(server, path, ready):
    module = load_module()
    status, said = module.http_status("127.0.0.1", server, path)
    assert module.healthy(status) is ready
    assert said == f"answered {status}"


def test_a_port_that_speaks_no_http_is_not_healthy():
    module = load_module()
    with socket.socket() as quiet:
        quiet.bind(("127.0.0.1", 0))
        quiet.listen()
        port = quiet.getsockname()[1]
        # Accepted by the kernel but never answered, then closed: no HTTP answer.
        status, said = module.http_status("127.0.0.1", port, "/ok")
    assert status is None and said.startswith("gave no HTTP answer")
