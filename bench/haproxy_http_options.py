"""Issue 16's not-yet-measured HAProxy options for the :80 path, side by side in one run:
HAProxy in HTTP mode (as the host runs it: one thread, `http-reuse safe`, leastconn over two
servers) in front of nginx on unix sockets, nginx answering 200 itself with its access log on
(buffered, as the proxies log), so only the hop between them differs:

- main: the client's address in a PROXY v2 header (as the host did until this bench showed
  the cost; it now sets a header of its own, X-SWS-Client, like the X-Forwarded-For variant);
- main, again: the same path through another port (an A/A pair: what noise alone does);
- prefer-last-server: main with `option prefer-last-server`;
- X-Forwarded-For: no PROXY header, `option forwardfor`, nginx takes the address from the
  header (`real_ip_header X-Forwarded-For`), so idle server connections may serve any client;
- both: X-Forwarded-For with prefer-last-server.

`tune.idle-pool.shared` is not among them: it shares idle server connections between HAProxy's
threads, and the host runs one thread (sws_loadbalancer_nbthread 1, ARCHITECTURE.md "Data path
speed"). Two nginx workers stand for the two proxies (each server line is a socket of its own).

wrk -t2 -c32 per variant, rounds alternating the variants, medians; each ratio is the median of
the rounds' ratios to main. Throwaway containers (`hopt-bench-*`) of the bootstrap's images.

    .venv/bin/python bench/haproxy_http_options.py [--rounds 7] [--seconds 3]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import median

from tls_edge import ENGINE_LOCK, HAPROXY_IMAGE, LOCK_HELD_ENV, NGINX_IMAGE, wrk

VARIANTS = {  # name: (port, backend)
    "main (PROXY v2)": (18490, "proxy"),
    "main again (A/A)": (18491, "proxy"),
    "prefer-last-server": (18492, "proxy_last"),
    "X-Forwarded-For": (18493, "xff"),
    "X-Forwarded-For + prefer-last-server": (18494, "xff_last"),
}
MAIN = "main (PROXY v2)"

NGINX_CONF = """worker_processes 2;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    log_format sws '$remote_addr $host "$request" $status $body_bytes_sent '
                   '$request_time "$http_user_agent"';
    access_log /dev/stdout sws buffer=64k flush=1s;
    keepalive_requests 1000000;
    keepalive_timeout 3600s;
    set_real_ip_from unix:;
    server {
        listen unix:/run/bench/p1.sock proxy_protocol;
        listen unix:/run/bench/p2.sock proxy_protocol;
        real_ip_header proxy_protocol;
        location / { default_type text/plain; return 200 "ok\\n"; }
    }
    server {
        listen unix:/run/bench/x1.sock;
        listen unix:/run/bench/x2.sock;
        real_ip_header X-Forwarded-For;
        location / { default_type text/plain; return 200 "ok\\n"; }
    }
}
"""


def haproxy_cfg() -> str:
    frontends = "".join(
        f"frontend f{port}\n    bind 127.0.0.1:{port}\n    default_backend {backend}\n"
        for port, backend in VARIANTS.values()
    )
    backends = ""
    for name, sockets, extra in (
        ("proxy", "p", "send-proxy-v2", ),
        ("proxy_last", "p", "send-proxy-v2"),
        ("xff", "x", ""),
        ("xff_last", "x", ""),
    ):  # fmt: skip
        options = "    option forwardfor\n" if sockets == "x" else ""
        if name.endswith("_last"):
            options += "    option prefer-last-server\n"
        servers = "".join(
            f"    server s{i} unix@/run/bench/{sockets}{i}.sock {extra}\n" for i in (1, 2)
        )
        backends += (
            f"backend {name}\n    balance leastconn\n    http-reuse safe\n{options}{servers}"
        )
    return f"""global
    maxconn 8000
    nbthread 1
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
{frontends}{backends}"""


def start(workdir: Path) -> None:
    sockets = workdir / "sockets"
    sockets.mkdir()
    (workdir / "nginx.conf").write_text(NGINX_CONF)
    (workdir / "haproxy.cfg").write_text(haproxy_cfg())
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", "hopt-bench-nginx", "--network", "none",
         "-v", f"{sockets}:/run/bench", "-v", f"{workdir / 'nginx.conf'}:/etc/nginx/b.conf:ro",
         NGINX_IMAGE, "nginx", "-c", "/etc/nginx/b.conf", "-g", "daemon off;"],
        check=True, capture_output=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not (sockets / "x2.sock").exists():
        if time.monotonic() > deadline:
            raise SystemExit("nginx did not make its sockets")
        time.sleep(0.1)
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", "hopt-bench-haproxy", "--network", "host",
         "-v", f"{sockets}:/run/bench", "-v", f"{workdir / 'haproxy.cfg'}:/etc/haproxy/b.cfg:ro",
         HAPROXY_IMAGE, "haproxy", "-f", "/etc/haproxy/b.cfg"],
        check=True, capture_output=True,
    )  # fmt: skip
    time.sleep(1)


def stop() -> None:
    for name in ("hopt-bench-haproxy", "hopt-bench-nginx"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    with open(ENGINE_LOCK, "a") as lock, tempfile.TemporaryDirectory() as tmp:
        if os.environ.get(LOCK_HELD_ENV) != "1":
            fcntl.flock(lock, fcntl.LOCK_EX)
        stop()
        start(Path(tmp))
        try:
            for port, _ in VARIANTS.values():
                wrk(f"http://127.0.0.1:{port}/", 1, args.connections)  # warm up
            for _ in range(args.rounds):
                for variant, (port, _) in VARIANTS.items():
                    url = f"http://127.0.0.1:{port}/"
                    results[variant].append(wrk(url, args.seconds, args.connections))
        finally:
            stop()
    print(
        f"HAProxy HTTP mode -> nginx (2 workers, access log on), wrk -t2 -c{args.connections},"
        f" {args.rounds} rounds x {args.seconds} s, medians"
    )
    print(f"{'variant':40} {'req/s':>9} {'p99 ms':>7} {'ratio to main':>14}")
    for variant, rows in results.items():
        ratios = [r[0] / m[0] for r, m in zip(rows, results[MAIN], strict=True)]
        print(
            f"{variant:40} {median(r[0] for r in rows):9,.0f} {median(r[1] for r in rows):7.1f}"
            f" {median(ratios):14.2f}"
        )


if __name__ == "__main__":
    main()
