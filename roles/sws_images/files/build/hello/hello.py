"""The example service: answers every GET with a greeting and the container's hostname.

GET /healthz answers "ok". Settings: PORT (default 8080) and GREETING (default "Hello").
"""

import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Greeter(BaseHTTPRequestHandler):
    # Keep-alive, so the proxies' upstream connections are reused; idle ones close after 75 s.
    protocol_version = "HTTP/1.1"
    timeout = 75
    # Headers and body go out in two writes; with Nagle on, a kept-alive connection waits for
    # the peer's delayed ACK (40 ms) before the body.
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        if self.path == "/healthz":
            self.reply(200, "text/plain", "ok\n")
            return
        body = {
            "greeting": os.environ.get("GREETING", "Hello"),
            "hostname": socket.gethostname(),
            "path": self.path,
        }
        self.reply(200, "application/json", json.dumps(body) + "\n")

    def reply(self, status, content_type, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        # One line per request on stdout (docker logs), without the default reverse DNS lookup.
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    # As PID 1 the process would ignore SIGTERM and `docker stop` would wait for its timeout.
    # The agent stops a container only after the proxies stopped routing to it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("", port), Greeter).serve_forever()
