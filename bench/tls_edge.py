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

With --http2-haproxy, the same HTTP/2 question (the same clients, rounds, medians and ratios as
--http2) now that HAProxy ends TLS, as the host's `frontend https` does: HTTP mode, `ssl
crt-list ... strict-sni` (the clients ask for `localhost` by SNI), one thread, no session
tickets, keep-alive, `http-reuse safe`, X-SWS-Client set, plain HTTP/1.1 to nginx's unix socket
(no PROXY header), nginx answering 200 itself. Three binds: haproxy-h1 (`alpn http/1.1`),
haproxy-h2 (`alpn h2,http/1.1`, what the host runs) and haproxy-h1 again on another port (the
A/A pair). HTTP/2 clients run against haproxy-h2 only. wrk's new connections here resume their
TLS session from HAProxy's session cache (its `show info` counted every one a cache hit): new
TCP connections and resumed TLS 1.3 handshakes, as a returning browser makes.

It holds the engine lock (/tmp/sws-e2e.lock) as the other benches do.

    .venv/bin/python bench/tls_edge.py [--http2 | --http2-haproxy] [--rounds 3] [--seconds 5]
        [--connections 32]
    .venv/bin/python bench/tls_edge.py --http2-haproxy --rounds 9 --seconds 3   # ARCHITECTURE.md
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
from typing import NamedTuple

from measure import wrk

HAPROXY_IMAGE = "sws-local/haproxy:2.6-1"
NGINX_IMAGE = "sws-local/nginx:1.22-2"
DOMAIN = "bench.tls.test"
PORTS = {
    "plain": 18480,
    "haproxy-tls": 18481,
    "nginx-tls": 18482,
    "nginx-tls-h2": 18483,
    "nginx-tls-again": 18484,  # the same path as nginx-tls: the noise floor (A/A)
    # --http2-haproxy: HAProxy ends TLS in HTTP mode (another HAProxy config, another nginx).
    "haproxy-h1": 18485,
    "haproxy-h2": 18486,
    "haproxy-h1-again": 18487,  # the same bind as haproxy-h1: the noise floor (A/A)
}
EDGE_VARIANTS = ("plain", "haproxy-tls", "nginx-tls")
HTTP2_VARIANTS = ("nginx-tls", "nginx-tls-h2", "nginx-tls-again")
HTTP2_HAPROXY_VARIANTS = ("haproxy-h1", "haproxy-h2", "haproxy-h1-again")
# The name the --http2-haproxy clients send by SNI (strict-sni refuses a handshake without one,
# and wrk and h2load send none to an address); /etc/hosts has it, and only for 127.0.0.1.
SNI_NAME = "localhost"
ENGINE_LOCK = "/tmp/sws-e2e.lock"
LOCK_HELD_ENV = "SWS_BENCH_LOCK_HELD"  # as in agent_host.py
# The cipher list the edge uses (roles' defaults): Mozilla's "intermediate" for TLS 1.2;
# TLS 1.3 suites are OpenSSL's defaults.
CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


def nginx_head(workers: str = "auto") -> str:
    """A bench nginx's configuration up to the http block's servers: access log off, and a
    keep-alive connection kept for the whole run."""
    return f"""worker_processes {workers};
pid /tmp/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
"""


NGINX_CONF = (
    nginx_head()
    + f"""    set_real_ip_from unix:;
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
)

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


# --http2-haproxy: HAProxy ends TLS as the host's `frontend https` does
# (roles/sws_loadbalancer/templates/haproxy.cfg.j2): HTTP mode, crt-list with strict-sni, one
# thread (the host's sws_loadbalancer_nbthread), TLS 1.2+ without session tickets, client
# keep-alive, pooled keep-alive connections to nginx (http-reuse safe), the client's address in
# X-SWS-Client. Not the per-client connection limits: the host does not track loopback either.
# The three binds differ only in ALPN (and port).
HAPROXY_HTTP_CFG = f"""global
    maxconn 4096
    nbthread 1
    ssl-default-bind-ciphers {CIPHERS}
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
    tune.ssl.cachesize 50000
defaults
    mode http
    option dontlognull
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    timeout http-keep-alive 75s
    timeout http-request 10s
frontend haproxy_h1
    bind 127.0.0.1:{PORTS["haproxy-h1"]} ssl crt-list /certs/crt-list-sni.txt strict-sni alpn http/1.1
    default_backend nginx
frontend haproxy_h2
    bind 127.0.0.1:{PORTS["haproxy-h2"]} ssl crt-list /certs/crt-list-sni.txt strict-sni alpn h2,http/1.1
    default_backend nginx
frontend haproxy_h1_again
    bind 127.0.0.1:{PORTS["haproxy-h1-again"]} ssl crt-list /certs/crt-list-sni.txt strict-sni alpn http/1.1
    default_backend nginx
backend nginx
    http-reuse safe
    http-request set-header X-SWS-Client %[src]
    server n unix@/run/bench/plain.sock
"""  # noqa: E501


# nginx behind HAProxy's HTTP mode: plain HTTP/1.1 on a unix socket, as the proxies' https
# socket gets it on the host (no PROXY header: the client's address comes in X-SWS-Client).
def answering_nginx_conf(listen: str, workers: str = "auto") -> str:
    """An nginx that answers 200 itself on one listen, access log off (a bench's far end)."""
    return (
        nginx_head(workers)
        + f"""    server {{
        listen {listen};
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""
    )


NGINX_HTTP_CONF = answering_nginx_conf("unix:/run/bench/plain.sock")


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


def start(workdir: Path, haproxy_http: bool = False) -> None:
    """haproxy_http: the --http2-haproxy chain (HAPROXY_HTTP_CFG, NGINX_HTTP_CONF), else the
    tcp-mode one the other modes measure."""
    certs, sockets = workdir / "certs", workdir / "sockets"
    certs.mkdir()
    sockets.mkdir()
    make_certificate(certs)
    # The same certificate, for the name the --http2-haproxy clients send by SNI.
    (certs / "crt-list-sni.txt").write_text(f"/certs/bundle.pem {SNI_NAME}\n")
    (workdir / "nginx.conf").write_text(NGINX_HTTP_CONF if haproxy_http else NGINX_CONF)
    (workdir / "haproxy.cfg").write_text(HAPROXY_HTTP_CFG if haproxy_http else HAPROXY_CFG)
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
    while not (sockets / ("plain.sock" if haproxy_http else "https2.sock")).exists():
        if time.monotonic() > deadline:
            raise SystemExit("nginx did not make its sockets")
        time.sleep(0.1)
    time.sleep(0.5)


def stop() -> None:
    for name in ("tls-bench-haproxy", "tls-bench-nginx"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


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
    if variant in HTTP2_HAPROXY_VARIANTS:
        # strict-sni, as on the host: the clients must name the certificate's host.
        return f"{scheme}://{SNI_NAME}:{PORTS[variant]}/"
    # An address, so no SNI: each edge has one certificate, its default, so both pick the same.
    return f"{scheme}://127.0.0.1:{PORTS[variant]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--http2", action="store_true", help="nginx-tls with and without http2")
    mode.add_argument(
        "--http2-haproxy",
        action="store_true",
        help="HAProxy ending TLS (HTTP mode) with alpn http/1.1 and with h2,http/1.1",
    )
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
                start(Path(tmp), haproxy_http=args.http2_haproxy)
                if args.http2_haproxy:
                    results = http2_rounds(args, HTTP2_HAPROXY)
                else:
                    results = (http2_rounds if args.http2 else edge_rounds)(args)
        finally:
            stop()
    if args.http2_haproxy:
        report_http2(results, args, HTTP2_HAPROXY)
    else:
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


class Comparison(NamedTuple):
    """One A/B/A' comparison: base, treatment and base again (A/A) variants, the measures
    (client -> the variants it runs against), and the report's wording."""

    base: str
    treatment: str
    again: str
    measures: dict[str, tuple[str, ...]]
    header: str  # the report's first line, after "-t2 -cN, S s runs, R rounds alternating "
    base_column: str
    treatment_column: str


def http2_measures(variants: tuple[str, ...], h2: str) -> dict[str, tuple[str, ...]]:
    """HTTP/1.1 clients against every variant; HTTP/2 clients against the one offering h2."""
    return {
        "wrk h1 keep-alive": variants,
        "h2load h1 keep-alive": variants,
        "wrk h1 new handshakes": variants,
        "h2load h2 -m1": (h2,),
        "h2load h2 -m10": (h2,),
    }


# The --http2 comparison: nginx ending TLS with and without http2 on its listen.
HTTP2 = Comparison(
    *HTTP2_VARIANTS,
    measures=http2_measures(HTTP2_VARIANTS, "nginx-tls-h2"),
    header=(
        "nginx-tls (listen ... ssl proxy_protocol), nginx-tls-h2 (listen ... ssl http2 "
        "proxy_protocol) and nginx-tls again (A/A); HAProxy tcp -> nginx ends TLS, answers 200 "
        "itself; medians; ratios: h2 listen / without, again / without, medians of the "
        "rounds' ratios"
    ),
    base_column="without req/s",
    treatment_column="http2 listen req/s",
)
HTTP2_MEASURES = HTTP2.measures  # (client, variants it runs against)

# The --http2-haproxy comparison: HAProxy ending TLS with alpn http/1.1 and with h2,http/1.1.
HTTP2_HAPROXY = Comparison(
    *HTTP2_HAPROXY_VARIANTS,
    measures=http2_measures(HTTP2_HAPROXY_VARIANTS, "haproxy-h2"),
    header=(
        "haproxy-h1 (bind ... ssl crt-list strict-sni alpn http/1.1), haproxy-h2 (alpn "
        "h2,http/1.1, the host's) and haproxy-h1 again (A/A); HAProxy 1 thread, HTTP mode, ends "
        "TLS -> HTTP/1.1 over a unix socket -> nginx answers 200 itself; medians; ratios: h2 "
        "bind / h1 bind, again / h1 bind, medians of the rounds' ratios"
    ),
    base_column="h1 bind req/s",
    treatment_column="h2 bind req/s",
)


def http2_measure(measure: str, variant: str, args) -> tuple[float, float]:
    target, seconds, conns = url(variant), args.seconds, args.connections
    if measure == "wrk h1 keep-alive":
        return wrk(target, seconds, conns)
    if measure == "wrk h1 new handshakes":
        return wrk(target, seconds, conns, close=True)
    if measure == "h2load h1 keep-alive":
        return h2load(target, seconds, conns, h1=True)
    return h2load(target, seconds, conns, streams=int(measure.rsplit("-m", 1)[1]))


def http2_rounds(args, comparison: Comparison = HTTP2) -> dict[tuple[str, str], list]:
    """Each round runs every measure on its variants back to back; {(measure, variant):
    [(req/s, p99) a round]}."""
    results: dict[tuple[str, str], list] = {}
    for variant in (comparison.base, comparison.treatment, comparison.again):
        wrk(url(variant), 1, args.connections)  # warm up
    for number in range(args.rounds):
        for measure, variants in comparison.measures.items():
            # Odd rounds run the variants the other way round: drift favours neither.
            for variant in variants if number % 2 == 0 else variants[::-1]:
                results.setdefault((measure, variant), []).append(
                    http2_measure(measure, variant, args)
                )
    return results


def report_http2(results: dict, args, comparison: Comparison = HTTP2) -> None:
    base_width, treatment_width = len(comparison.base_column), len(comparison.treatment_column)
    print(
        f"-t2 -c{args.connections}, {args.seconds} s runs, {args.rounds} rounds alternating "
        + comparison.header
    )
    print(
        f"{'client':<22} {comparison.base_column:>{base_width}} {'p99':>9} "
        f"{comparison.treatment_column:>{treatment_width}} "
        f"{'p99':>9} {'ratio':>6} {'A/A':>6}  h2 ratio per round"
    )
    for measure, variants in comparison.measures.items():
        h2 = results[(measure, comparison.treatment)]
        line = f"{measure:<22} "
        if comparison.base in variants:
            h1 = results[(measure, comparison.base)]
            again = results[(measure, comparison.again)]
            ratios = [b[0] / a[0] for a, b in zip(h1, h2, strict=True)]
            same = median(b[0] / a[0] for a, b in zip(h1, again, strict=True))
            line += (
                f"{median(r[0] for r in h1):>{base_width},.0f} {median(r[1] for r in h1):>7.2f}ms "
            )
        else:
            ratios, same = [], None
            line += f"{'-':>{base_width}} {'-':>9} "
        line += (
            f"{median(r[0] for r in h2):>{treatment_width},.0f} {median(r[1] for r in h2):>7.2f}ms "
        )
        line += f"{median(ratios):>6.2f} {same:>6.2f}  " if ratios else f"{'-':>6} {'-':>6}  "
        print(line + " ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
