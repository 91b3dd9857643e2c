"""Where TLS should end at the edge, measured: HAProxy in tcp mode ending TLS (crt-list) and
passing plain HTTP with a PROXY v2 header to nginx's unix socket, against HAProxy passing the
TLS bytes through to nginx, which ends TLS itself on a second unix socket (ssl_certificate per
server). Plain HTTP through the same chain is the baseline. All three in throwaway containers
(`tls-bench-*`) of the bootstrap's own images, on loopback ports, one nginx answering 200
itself, so what differs is only where the handshake and the record layer run.

Per variant: requests/s and p99 with keep-alive (wrk), and new handshakes/s (wrk with
`Connection: close`: each request a new TCP connection and a full TLS handshake). Rounds
alternate the variants; medians (this machine's speed drifts between minutes).

With --http2, the HTTP/2 question instead: nginx ending TLS as above, against the same with
`http2` on its listen (ALPN offers h2 and http/1.1), and against itself again through a second
HAProxy port (an A/A pair: what the noise alone makes of a ratio). HTTP/1.1 clients: wrk
(sends no ALPN) and h2load --h1 (ALPN http/1.1), keep-alive, and wrk's new handshakes/s;
HTTP/2 clients (h2load, on the http2 listen only): one stream at a time per connection, and 10.

It holds the engine lock (/tmp/sws-e2e.lock) as the other benches do.

    .venv/bin/python bench/tls_edge.py [--http2] [--rounds 3] [--seconds 5] [--connections 32]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

HAPROXY_IMAGE = "sws-local/haproxy:2.6-1"
NGINX_IMAGE = "sws-local/nginx:1.22-1"
DOMAIN = "bench.tls.test"
PORTS = {
    "plain": 18480,
    "haproxy-tls": 18481,
    "nginx-tls": 18482,
    "nginx-tls-h2": 18483,
    "nginx-tls-again": 18484,  # the same path as nginx-tls: the noise floor (A/A)
}
EDGE_VARIANTS = ("plain", "haproxy-tls", "nginx-tls")
HTTP2_VARIANTS = ("nginx-tls", "nginx-tls-h2", "nginx-tls-again")
ENGINE_LOCK = "/tmp/sws-e2e.lock"
LOCK_HELD_ENV = "SWS_BENCH_LOCK_HELD"  # as in agent_host.py
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
    server {{
        listen unix:/run/bench/https2.sock ssl http2 proxy_protocol;
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
frontend nginx_tls_again
    bind 127.0.0.1:{PORTS["nginx-tls-again"]}
    default_backend https_sock
frontend nginx_tls_h2
    bind 127.0.0.1:{PORTS["nginx-tls-h2"]}
    default_backend https2_sock
backend http_sock
    server n unix@/run/bench/http.sock send-proxy-v2
backend https_sock
    server n unix@/run/bench/https.sock send-proxy-v2
backend https2_sock
    server n unix@/run/bench/https2.sock send-proxy-v2
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
    while not (sockets / "https2.sock").exists():
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


def h2load(
    url: str, seconds: int, connections: int, streams: int = 1, h1: bool = False
) -> tuple[float, float]:
    """requests/s and p99 latency in ms (from h2load's per-request log); h1: HTTP/1.1 with
    ALPN http/1.1, else HTTP/2 (fails unless ALPN chose h2)."""
    with tempfile.NamedTemporaryFile(prefix="h2load-") as log:
        cmd = ["h2load", "-t2", f"-c{connections}", f"-m{streams}", f"-D{seconds}"]
        cmd += [f"--log-file={log.name}", url]
        if h1:
            cmd.insert(1, "--h1")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        durations = sorted(int(line.split("\t")[2]) for line in Path(log.name).open())
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    protocol = re.search(r"Application protocol: (\S+)", out)
    wanted = "http/1.1" if h1 else "h2"
    if (
        not counts
        or counts.group(1) != counts.group(2)
        or not protocol
        or (protocol.group(1) != wanted)
    ):
        raise SystemExit(f"h2load saw errors or no {wanted}:\n{out}")
    rate = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    return rate, durations[int(len(durations) * 0.99)] / 1000


def url(variant: str) -> str:
    scheme = "http" if variant == "plain" else "https"
    # An address, so no SNI: each edge has one certificate, its default, so both pick the same.
    return f"{scheme}://127.0.0.1:{PORTS[variant]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http2", action="store_true", help="nginx-tls with and without http2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with open(ENGINE_LOCK, "a") as lock:
        if os.environ.get(LOCK_HELD_ENV) != "1":
            fcntl.flock(lock, fcntl.LOCK_EX)
        stop()
        try:
            with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
                start(Path(tmp))
                results = (http2_rounds if args.http2 else edge_rounds)(args)
        finally:
            stop()
    (report_http2 if args.http2 else report_edge)(results, args)


def edge_rounds(args) -> dict[str, list]:
    results: dict[str, list] = {v: [] for v in EDGE_VARIANTS}
    for variant in EDGE_VARIANTS:
        wrk(url(variant), 1, args.connections)  # warm up
    for _ in range(args.rounds):
        for variant in EDGE_VARIANTS:
            keep = wrk(url(variant), args.seconds, args.connections)
            fresh = wrk(url(variant), args.seconds, args.connections, close=True)
            results[variant].append((keep, fresh))
    return results


def report_edge(results: dict, args) -> None:
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


# The --http2 measures: (client, variants it runs against).
HTTP2_MEASURES = {
    "wrk h1 keep-alive": HTTP2_VARIANTS,
    "h2load h1 keep-alive": HTTP2_VARIANTS,
    "wrk h1 new handshakes": HTTP2_VARIANTS,
    "h2load h2 -m1": ("nginx-tls-h2",),
    "h2load h2 -m10": ("nginx-tls-h2",),
}


def http2_measure(measure: str, variant: str, args) -> tuple[float, float]:
    target, seconds, conns = url(variant), args.seconds, args.connections
    if measure == "wrk h1 keep-alive":
        return wrk(target, seconds, conns)
    if measure == "wrk h1 new handshakes":
        return wrk(target, seconds, conns, close=True)
    if measure == "h2load h1 keep-alive":
        return h2load(target, seconds, conns, h1=True)
    return h2load(target, seconds, conns, streams=int(measure.rsplit("-m", 1)[1]))


def http2_rounds(args) -> dict[tuple[str, str], list]:
    """Each round runs every measure on both variants back to back; {(measure, variant):
    [(req/s, p99) a round]}."""
    results: dict[tuple[str, str], list] = {}
    for variant in HTTP2_VARIANTS:
        wrk(url(variant), 1, args.connections)  # warm up
    for number in range(args.rounds):
        for measure, variants in HTTP2_MEASURES.items():
            # Odd rounds run the variants the other way round: drift favours neither.
            for variant in variants if number % 2 == 0 else variants[::-1]:
                results.setdefault((measure, variant), []).append(
                    http2_measure(measure, variant, args)
                )
    return results


def report_http2(results: dict, args) -> None:
    print(
        f"-t2 -c{args.connections}, {args.seconds} s runs, {args.rounds} rounds alternating "
        "nginx-tls (listen ... ssl proxy_protocol), nginx-tls-h2 (listen ... ssl http2 "
        "proxy_protocol) and nginx-tls again (A/A); HAProxy tcp -> nginx ends TLS, answers 200 "
        "itself; medians; ratios: h2 listen / without, again / without, medians of the "
        "rounds' ratios"
    )
    print(
        f"{'client':<22} {'without req/s':>13} {'p99':>9} {'http2 listen req/s':>18} "
        f"{'p99':>9} {'ratio':>6} {'A/A':>6}  h2 ratio per round"
    )
    for measure, variants in HTTP2_MEASURES.items():
        h2 = results[(measure, "nginx-tls-h2")]
        line = f"{measure:<22} "
        if "nginx-tls" in variants:
            h1 = results[(measure, "nginx-tls")]
            again = results[(measure, "nginx-tls-again")]
            ratios = [b[0] / a[0] for a, b in zip(h1, h2, strict=True)]
            same = median(b[0] / a[0] for a, b in zip(h1, again, strict=True))
            line += f"{median(r[0] for r in h1):>13,.0f} {median(r[1] for r in h1):>7.2f}ms "
        else:
            ratios, same = [], None
            line += f"{'-':>13} {'-':>9} "
        line += f"{median(r[0] for r in h2):>18,.0f} {median(r[1] for r in h2):>7.2f}ms "
        line += f"{median(ratios):>6.2f} {same:>6.2f}  " if ratios else f"{'-':>6} {'-':>6}  "
        print(line + " ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
