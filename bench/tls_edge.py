"""Where TLS should end at the edge, measured: HAProxy in tcp mode ending TLS (crt-list) and
passing plain HTTP with a PROXY v2 header to nginx's unix socket, against HAProxy passing the
TLS bytes through to nginx, which ends TLS itself on a second unix socket (ssl_certificate per
server). Plain HTTP through the same chain is the baseline. All three in throwaway containers
(`tls-bench-*`) of the bootstrap's own images, on loopback ports, one nginx answering 200
itself, so what differs is only where the handshake and the record layer run.

Per variant: requests/s and p99 with keep-alive (wrk), and new handshakes/s (wrk with
`Connection: close`: each request a new TCP connection and a full TLS handshake). Rounds
alternate the variants; medians (this machine's speed drifts between minutes).

    .venv/bin/python bench/tls_edge.py [--rounds 3] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

HAPROXY_IMAGE = "sws-local/haproxy:2.6-1"
NGINX_IMAGE = "sws-local/nginx:1.22-1"
DOMAIN = "bench.tls.test"
PORTS = {"plain": 18480, "haproxy-tls": 18481, "nginx-tls": 18482}
# The cipher list the edge uses (roles' defaults): Mozilla's "intermediate" for TLS 1.2;
# TLS 1.3 suites are OpenSSL's defaults.
CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)

NGINX_CONF = f"""worker_processes auto;
pid /tmp/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    set_real_ip_from unix:;
    real_ip_header proxy_protocol;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {CIPHERS};
    ssl_session_cache shared:sws_tls:10m;
    server {{
        listen unix:/run/bench/http.sock proxy_protocol;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
    server {{
        listen unix:/run/bench/https.sock ssl proxy_protocol;
        server_name {DOMAIN};
        ssl_certificate /certs/{DOMAIN}.pem;
        ssl_certificate_key /certs/{DOMAIN}.key;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""

HAPROXY_CFG = f"""global
    maxconn 8000
    ssl-default-bind-ciphers {CIPHERS}
    ssl-default-bind-options ssl-min-ver TLSv1.2
    tune.ssl.cachesize 20000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend plain
    bind 127.0.0.1:{PORTS["plain"]}
    default_backend http_sock
frontend haproxy_tls
    bind 127.0.0.1:{PORTS["haproxy-tls"]} ssl crt-list /certs/crt-list.txt alpn http/1.1
    default_backend http_sock
frontend nginx_tls
    bind 127.0.0.1:{PORTS["nginx-tls"]}
    default_backend https_sock
backend http_sock
    server n unix@/run/bench/http.sock send-proxy-v2
backend https_sock
    server n unix@/run/bench/https.sock send-proxy-v2
"""


def make_certificate(directory: Path) -> None:
    """An ECDSA P-256 certificate for DOMAIN (what an ACME CA issues by default here)."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", f"/CN={DOMAIN}",
            "-addext", f"subjectAltName=DNS:{DOMAIN}",
            "-keyout", str(directory / f"{DOMAIN}.key"), "-out", str(directory / f"{DOMAIN}.pem"),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    # HAProxy wants the key with the certificate in one file.
    bundle = (directory / f"{DOMAIN}.pem").read_text() + (directory / f"{DOMAIN}.key").read_text()
    (directory / "bundle.pem").write_text(bundle)
    (directory / "crt-list.txt").write_text(f"/certs/bundle.pem {DOMAIN}\n")


def start(workdir: Path) -> None:
    certs, sockets = workdir / "certs", workdir / "sockets"
    certs.mkdir()
    sockets.mkdir()
    make_certificate(certs)
    (workdir / "nginx.conf").write_text(NGINX_CONF)
    (workdir / "haproxy.cfg").write_text(HAPROXY_CFG)
    common = ["docker", "run", "-d", "--rm", "-v", f"{certs}:/certs:ro"]
    subprocess.run(
        common
        + ["--name", "tls-bench-nginx", "--network", "none", "-v", f"{sockets}:/run/bench"]
        + ["-v", f"{workdir / 'nginx.conf'}:/etc/nginx/bench.conf:ro", NGINX_IMAGE]
        + ["nginx", "-c", "/etc/nginx/bench.conf", "-g", "daemon off;"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        common
        + ["--name", "tls-bench-haproxy", "--network", "host", "-v", f"{sockets}:/run/bench"]
        + ["-v", f"{workdir / 'haproxy.cfg'}:/etc/haproxy/bench.cfg:ro", HAPROXY_IMAGE]
        + ["haproxy", "-f", "/etc/haproxy/bench.cfg"],
        check=True, capture_output=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not (sockets / "https.sock").exists():
        if time.monotonic() > deadline:
            raise SystemExit("nginx did not make its sockets")
        time.sleep(0.1)
    time.sleep(0.5)


def stop() -> None:
    for name in ("tls-bench-haproxy", "tls-bench-nginx"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def wrk(url: str, seconds: int, connections: int, close: bool = False) -> tuple[float, float]:
    """requests/s and p99 latency in ms; with close, every request a new connection."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if re.search(r"Non-2xx or 3xx responses", out) or (
        errors and not close and any(int(n) for n in errors.groups())
    ):
        raise SystemExit(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rate, float(p99.group(1)) * scale


def url(variant: str) -> str:
    scheme = "http" if variant == "plain" else "https"
    # An address, so no SNI: each edge has one certificate, its default, so both pick the same.
    return f"{scheme}://127.0.0.1:{PORTS[variant]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    stop()
    results: dict[str, list] = {v: [] for v in PORTS}
    try:
        with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
            start(Path(tmp))
            for variant in PORTS:
                wrk(url(variant), 1, args.connections)  # warm up
            for _ in range(args.rounds):
                for variant in PORTS:
                    keep = wrk(url(variant), args.seconds, args.connections)
                    fresh = wrk(url(variant), args.seconds, args.connections, close=True)
                    results[variant].append((keep, fresh))
    finally:
        stop()
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating "
        "variants; nginx answers 200 itself; medians"
    )
    print(
        f"{'variant':<12} {'keep-alive req/s':>16} {'p99':>9} "
        f"{'new conns/s':>12} {'p99':>9}  (new conns = full handshakes for TLS)"
    )
    for variant, rounds in results.items():
        print(
            f"{variant:<12} {median(k[0] for k, _ in rounds):>16,.0f} "
            f"{median(k[1] for k, _ in rounds):>7.2f}ms "
            f"{median(f[0] for _, f in rounds):>12,.0f} {median(f[1] for _, f in rounds):>7.2f}ms"
        )


if __name__ == "__main__":
    main()
