"""Issue 16 part 5: the whole :80 chain (HAProxy -> two nginx proxies -> service) in variants,
side by side in one run, against the same trivial nginx service hit directly: which change
brings the chain to half of direct's requests/s (wrk -t2 -c32 on a 2-core machine)?

Each variant is a throwaway copy of the host's chain (`chainv-bench-*` containers of the
bootstrap's images, removed at the end): one HAProxy and two nginx proxies (one worker each),
run as the roles run them (host network, unix sockets, master-worker HAProxy as root dropping
to `haproxy`, the proxies' access log to their stdout in the json-file log driver), configured
from the roles' own templates and defaults (haproxy.cfg.j2, nginx.conf.j2, upgrade.conf.j2,
rendered here with Jinja2 over the role defaults and inventory/group_vars/all/sws.yml, only the
ports overridden; a throwaway certificate in the crt-list where HAProxy ends TLS) and a route
block from swsagent.render.route_block. All of it is read from a snapshot of a commit
(`git archive`, --ref, HEAD by default: the working tree may be mid-edit; `--ref worktree`
reads the working tree). A variant is the baseline with a few lines changed: the table's
footer lists them, as a diff of the rendered files. Every chain leads to one service: nginx
answering 200 itself (as bench/datapath_ratio.py's), on a user-defined bridge without
inter-container traffic, contained as the agent contains a service by default (0.5 CPU,
sws_default_service_cpus; memory, pids, capabilities).

Per round: direct, half of the variants (shuffled), direct, the other half, direct; a
variant's ratio in a round is its requests/s over the mean of that round's three direct runs,
and the table shows the median of those ratios (and each round's), with medians of requests/s
and p99. "baseline again" is a second, identical chain (its own containers and port): an A/A
pair, what noise alone makes of a ratio. CPU microseconds per request: each container's cgroup
(HAProxy, both proxies, the service), wrk's own rusage, the engine (dockerd and the variant's
containerd shims: where the access log goes once it leaves nginx), and other (the rest of the
machine's busy time: other sessions, the kernel's threads); idle is the machine's idle share
during the run, reuse the share of HAProxy's requests to the proxies on an open connection
(`show stat`).

It holds the engine lock (/tmp/sws-e2e.lock) as the other benches do; the host's own sws-*
containers are left alone. The default run takes about 7 minutes; --only picks variants
(comma-separated names; the baseline always runs) for more rounds in the same time.

    .venv/bin/python bench/chain_variants.py [--rounds 5] [--seconds 3] [--only a,b,...]
        [--ref HEAD|<commit>|worktree]
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

import jinja2
import yaml
from datapath_ratio import STATIC_CONF as SERVICE_CONF  # the same trivial service
from jinja2.nativetypes import NativeEnvironment
from measure import cgroup_cpu_file, cpu_us, wrk
from tls_edge import ENGINE_LOCK, HAPROXY_IMAGE, LOCK_HELD_ENV, NGINX_IMAGE

from swsagent.collection import haproxy

REPO = Path(__file__).resolve().parents[1]
# Where the roles, the inventory and swsapi are read from: a snapshot of a commit (--ref, HEAD
# by default: what the bootstrapped host runs, while the working tree may be mid-edit), or the
# working tree itself (--ref worktree).
SOURCE = REPO

PREFIX = "chainv-bench-"
NETWORK = f"{PREFIX}net"
SERVICE = f"{PREFIX}service"
DOMAIN = "chainv.bench.test"
SERVICE_PORT = 8080
HTTP_PORTS = 18500  # variant i listens on HTTP_PORTS + i (HTTPS, unused: HTTPS_PORTS + i)
HTTPS_PORTS = 18600
PROXIES = ("sws-proxy-1", "sws-proxy-2")  # sws_proxy_containers: the servers' names


@dataclass
class Variant:
    """The baseline with edits: (old, new) on haproxy.cfg (first occurrence; old must be
    there), (old, new) on each proxy's nginx.conf (regex, at least one match), or per proxy."""

    name: str
    note: str = ""
    haproxy: list[tuple[str, str]] = field(default_factory=list)
    nginx: list[tuple[str, str]] = field(default_factory=list)
    nginx_per_proxy: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    proxy_docker: list[str] = field(default_factory=list)  # extra `docker run` options
    wrk_threads: int = 2
    same_chain_as: str | None = None  # a client-side variant: another variant's containers


NBTHREAD = "    nbthread 1\n"
AFFINITY = (r"(worker_processes \d+;\n)", r"\1worker_cpu_affinity {mask};\n")
VARIANTS = [
    Variant("baseline", "as the host runs it"),
    Variant("baseline again", "A/A: an identical second chain"),
    Variant(
        "nbthread 2",
        "HAProxy two threads, idle connections shared",
        haproxy=[(NBTHREAD, "    nbthread 2\n    tune.idle-pool.shared on\n")],
    ),
    Variant(
        "pin HAProxy cpu0 + proxies cpu1",
        "cpu-map 1/1 0; worker_cpu_affinity 10",
        haproxy=[(NBTHREAD, NBTHREAD + "    cpu-map 1/1 0\n")],
        nginx=[(AFFINITY[0], AFFINITY[1].format(mask="10"))],
    ),
    Variant(
        "pin proxy-1 cpu0 + proxy-2 cpu1",
        "worker_cpu_affinity 01 / 10; HAProxy free",
        nginx_per_proxy={
            "sws-proxy-1": [(AFFINITY[0], AFFINITY[1].format(mask="01"))],
            "sws-proxy-2": [(AFFINITY[0], AFFINITY[1].format(mask="10"))],
        },
    ),
    Variant(
        "nginx worker_cpu_affinity auto",
        "one worker each: both proxies on cpu0",
        nginx=[(AFFINITY[0], AFFINITY[1].format(mask="auto"))],
    ),
    Variant(
        "balance first",
        "all requests to sws-proxy-1 while it is up",
        haproxy=[("    balance leastconn\n", "    balance first\n")],
    ),
    Variant(
        "balance roundrobin",
        haproxy=[("    balance leastconn\n", "    balance roundrobin\n")],
    ),
    Variant("http-reuse always", haproxy=[("    http-reuse safe\n", "    http-reuse always\n")]),
    Variant(
        "retry-on conn-failure",
        "no empty-response: no request copy kept for L7 retries",
        haproxy=[("    retry-on conn-failure empty-response\n", "    retry-on conn-failure\n")],
    ),
    Variant(
        "option dontlog-normal",
        "no traffic log line (the log level drops them anyway)",
        haproxy=[
            ("    option dontlognull\n", "    option dontlognull\n    option dontlog-normal\n")
        ],
    ),
    Variant(
        "fd edge-triggered",
        "HAProxy: fewer epoll_ctl calls (experimental in 2.6)",
        haproxy=[
            (
                NBTHREAD,
                NBTHREAD + "    expose-experimental-directives\n    tune.fd.edge-triggered on\n",
            )
        ],
    ),
    Variant(
        "forwardfor header",
        "HAProxy's native header instead of a set-header rule",
        haproxy=[
            (
                "    http-request set-header X-SWS-Client %[src]\n",
                "    http-request del-header X-SWS-Client\n"
                "    option forwardfor header X-SWS-Client\n",
            )
        ],
    ),
    Variant(
        "no limit_req",
        "nginx: the per-client limit_req line removed",
        nginx=[(r"\n    limit_req zone=[^\n]*;", "")],
    ),
    Variant(
        "proxy_buffering off",
        nginx=[(r"(\n    proxy_request_buffering off;)", r"\1\n    proxy_buffering off;")],
    ),
    Variant(
        "access log off",
        "nginx: access_log off",
        nginx=[(r"access_log /dev/stdout sws [^;]*;", "access_log off;")],
    ),
    Variant(
        "access log to a file",
        "nginx: the same log into the container's own file (no docker log driver)",
        nginx=[(r"access_log /dev/stdout sws ", "access_log /var/log/nginx/sws-access.log sws ")],
    ),
    Variant(
        "log driver local",
        "proxies' stdout to docker's `local` log driver instead of json-file",
        proxy_docker=["--log-driver", "local"],
    ),
    Variant(
        "wrk -t1", "baseline's chain, wrk with one thread", wrk_threads=1, same_chain_as="baseline"
    ),
]


def combine(name: str, note: str, *parts: str) -> Variant:
    """A variant made of others' edits, in the order given."""
    chosen = [next(v for v in VARIANTS if v.name == part) for part in parts]
    return Variant(
        name,
        note,
        haproxy=[edit for v in chosen for edit in v.haproxy],
        nginx=[edit for v in chosen for edit in v.nginx],
        proxy_docker=[arg for v in chosen for arg in v.proxy_docker],
    )


PIN = "pin HAProxy cpu0 + proxies cpu1"
VARIANTS += [
    combine(
        "pin + dontlog-normal + edge-triggered",
        "the cheap ones that keep the design (logs, retries, reuse safe)",
        PIN,
        "option dontlog-normal",
        "fd edge-triggered",
    ),
    combine(
        "pin + dontlog-normal + access log off",
        "what the access log costs on top",
        PIN,
        "option dontlog-normal",
        "access log off",
    ),
    combine(
        "pin + reuse always + retry conn-failure",
        "HAProxy's shortcuts that loosen the roll's guarantees",
        PIN,
        "option dontlog-normal",
        "http-reuse always",
        "retry-on conn-failure",
    ),
]


# --- configuration, rendered from the roles -------------------------------------------------


def role_vars(http_port: int, https_port: int) -> dict:
    """The roles' variables as a play of the bootstrap sees them (role defaults under
    group_vars/all), with the ports overridden; Jinja in a value is resolved here."""
    values: dict = {}
    for path in (
        "roles/sws_loadbalancer/defaults/main.yml",
        "roles/sws_proxy/defaults/main.yml",
        "inventory/group_vars/all/sws.yml",
    ):
        values.update(yaml.safe_load((SOURCE / path).read_text()))
    values.update(
        ansible_managed="Ansible managed (chainv-bench copy)",
        sws_http_port=http_port,
        sws_https_port=https_port,
        sws_proxy_routes_set="live",
    )
    env = NativeEnvironment(undefined=jinja2.StrictUndefined)
    for _ in range(10):
        changed = False
        for key, value in values.items():
            if isinstance(value, str) and "{{" in value:
                try:
                    resolved = env.from_string(value).render(values)
                except Exception:  # noqa: BLE001 - an Ansible-only filter: not needed here
                    continue
                if resolved != value:
                    values[key], changed = resolved, True
        if not changed:
            break
    return values


def render(template: str, values: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SOURCE / "roles"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # as Ansible's template module
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(values)


def edit_haproxy(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        if old not in text:
            raise SystemExit(f"haproxy.cfg has no {old!r}: update the variant")
        text = text.replace(old, new, 1)
    return text


def edit_nginx(text: str, edits: list[tuple[str, str]]) -> str:
    for pattern, new in edits:
        text, count = re.subn(pattern, new, text)
        if not count:
            raise SystemExit(f"nginx.conf has no {pattern!r}: update the variant")
    return text


def use_source(ref: str, workdir: Path) -> str:
    """Read the roles, the inventory and the Python packages from ref (a snapshot by `git
    archive`) or from the working tree ("worktree"); returns the commit (or "worktree")."""
    global SOURCE
    if ref != "worktree":
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        SOURCE = workdir / "source"
        SOURCE.mkdir()
        # The agent was swsapi/agent before the split into swscore, swsapi and swsagent.
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-tree", "--name-only", commit],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        packages = [p for p in ("swsapi", "swscore", "swsagent") if p in listed]
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "roles", "inventory", *packages],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(SOURCE)], input=archive, check=True)
    else:
        commit = "worktree"
    sys.path.insert(0, str(SOURCE))
    return commit


# --- containers -----------------------------------------------------------------------------


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def cleanup() -> None:
    names = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name=^{PREFIX}"], capture_output=True, text=True
    ).stdout.split()
    if names:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)


def start_service(workdir: Path) -> str:
    """The service, contained as the agent contains one by default; returns its address."""
    settings = yaml.safe_load((SOURCE / "inventory/group_vars/all/sws.yml").read_text())
    from swsagent.config import Containment

    containment = Containment()
    conf = workdir / "service.conf"
    conf.write_text(SERVICE_CONF)
    docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false", NETWORK)
    caps = [arg for cap in containment.capabilities for arg in ("--cap-add", cap)]
    docker(
        "run", "-d", "--name", SERVICE, "--network", NETWORK, "--cap-drop", "ALL", *caps,
        "--security-opt", "no-new-privileges", "--memory", str(containment.memory),
        "--memory-swap", str(containment.memory),
        "--cpus", str(settings["sws_default_service_cpus"]),
        "--pids-limit", str(containment.pids), "--log-driver", "json-file",
        "--log-opt", "max-size=10m", "--log-opt", "max-file=2",
        "-v", f"{conf}:/etc/nginx/bench.conf:ro",
        NGINX_IMAGE, "nginx", "-c", "/etc/nginx/bench.conf", "-g", "daemon off;",
    )  # fmt: skip
    return docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", SERVICE
    )


@dataclass
class Chain:
    """One variant's running copy of the chain."""

    port: int
    haproxy: str
    proxies: list[str]
    admin: Path
    configs: dict[str, str]  # file (haproxy.cfg, <proxy>/nginx.conf) -> text


def start_chain(
    index: int, variant: Variant, workdir: Path, service_address: str, lay_out=None, **settings
) -> Chain:
    """lay_out(conf_dir, values) -> routes: another bench's (site_cost.py), with the files
    they read; settings override role variables."""
    port = HTTP_PORTS + index
    values = {**role_vars(port, HTTPS_PORTS + index), **settings}
    root = workdir / f"v{index}"
    etc, run, sockets = root / "haproxy-etc", root / "haproxy-run", root / "proxies"
    for directory in (root, etc, run, sockets):
        directory.mkdir(mode=0o755)
    os.chmod(workdir, 0o755)  # HAProxy's workers (user haproxy) must reach the sockets
    haproxy_cfg = edit_haproxy(
        render("sws_loadbalancer/templates/haproxy.cfg.j2", values), variant.haproxy
    )
    (etc / "haproxy.cfg").write_text(haproxy_cfg)
    base_nginx = edit_nginx(render("sws_proxy/templates/nginx.conf.j2", values), variant.nginx)
    from swsagent.plan import Route
    from swsagent.render import route_block
    from tests.fixtures.contract import repo_names

    names = repo_names()
    route = route_block(
        Route(domain=DOMAIN, service="chainv", address=service_address, port=SERVICE_PORT), names
    )
    conf_dir, mount = values["sws_proxy_conf_dir"], values["sws_proxy_sockets_mount"]
    assert values["sws_proxy_routes_socket"] == names.proxy_routes_socket
    proxies, configs = [], {"haproxy.cfg": haproxy_cfg}
    for proxy in PROXIES:
        conf = root / f"conf-{proxy}"
        (conf / "live").mkdir(parents=True)
        nginx_conf = edit_nginx(base_nginx, variant.nginx_per_proxy.get(proxy, []))
        (conf / "nginx.conf").write_text(nginx_conf)
        configs[f"{proxy}/nginx.conf"] = nginx_conf
        write_role_files(conf, values)
        (conf / "live" / "routes.conf").write_text(lay_out(conf, values) if lay_out else route)
        (sockets / proxy).mkdir(mode=0o755)
        name = f"{PREFIX}v{index}-{proxy.removeprefix('sws-')}"
        docker(
            "run", "-d", "--name", name, "--network", "host", *variant.proxy_docker,
            "-v", f"{conf}:{conf_dir}", "-v", f"{sockets / proxy}:{mount}",
            NGINX_IMAGE, "nginx", "-c", f"{conf_dir}/nginx.conf", "-g", "daemon off;",
        )  # fmt: skip
        proxies.append(name)
    wait_for_sockets(sockets, values["sws_proxy_http_socket"], variant.name, proxies)
    run_dir = values["sws_loadbalancer_run_dir"]
    name = f"{PREFIX}v{index}-haproxy"
    tls = []
    if "crt-list" in haproxy_cfg:  # HAProxy ends TLS (HEAD since c2f42a5): it needs a list
        tls_dir = values["sws_loadbalancer_tls_dir"]
        tls = ["-v", f"{haproxy_certificates(workdir, tls_dir, values)}:{tls_dir}:ro"]
    docker(
        "run", "-d", "--name", name, "--network", "host", *tls,
        "-v", f"{etc}:/usr/local/etc/haproxy:ro", "-v", f"{run}:{run_dir}",
        "-v", f"{sockets}:{values['sws_loadbalancer_proxy_sockets_dir']}:ro",
        HAPROXY_IMAGE, "haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg",
    )  # fmt: skip
    admin = run / Path(values["sws_loadbalancer_socket"]).relative_to(run_dir)
    return Chain(port, name, proxies, admin, configs)


def wait_for_sockets(sockets: Path, socket: str, variant: str, proxies: list[str]) -> None:
    deadline = time.monotonic() + 20
    while not all((sockets / proxy / socket).exists() for proxy in PROXIES):
        if time.monotonic() > deadline:
            raise SystemExit(f"{variant}: the proxies made no sockets\n" + logs(proxies))
        time.sleep(0.1)


def write_role_files(conf: Path, values: dict) -> None:
    """What routes include (upgrade.conf; since issue 27 authcache.conf and the lua module
    nginx.conf loads), as the role writes them into a proxy's volume."""
    (conf / "upgrade.conf").write_text(render("sws_proxy/templates/upgrade.conf.j2", values))
    if not (SOURCE / "roles/sws_proxy/templates/authcache.conf.j2").exists():
        return
    (conf / "authcache.conf").write_text(render("sws_proxy/templates/authcache.conf.j2", values))
    (conf / "lua").mkdir()
    lua = SOURCE / "roles/sws_proxy/files/sws_authcache.lua"
    (conf / "lua" / lua.name).write_text(lua.read_text())


def haproxy_certificates(workdir: Path, tls_dir: str, values: dict) -> Path:
    """The first crt-list the role writes (the API domain's certificate), with a throwaway
    self-signed one; made once, shared by every chain."""
    directory = workdir / "haproxy-tls"
    if directory.exists():
        return directory
    directory.mkdir(mode=0o700)
    domain = values["sws_api_domain"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", f"/CN={domain}",
         "-addext", f"subjectAltName=DNS:{domain}",
         "-keyout", str(directory / "key"), "-out", str(directory / "crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    (directory / "api.pem").write_text(
        (directory / "crt").read_text() + (directory / "key").read_text()
    )
    (directory / "crt-list").write_text(f"{tls_dir}/api.pem {domain}\n")
    return directory


def logs(names: list[str]) -> str:
    return "\n".join(
        subprocess.run(["docker", "logs", "--tail", "20", n], capture_output=True, text=True).stderr
        for n in names
    )


def backend_stats(admin: Path, backend: str) -> list[dict]:
    """The backend's servers' `show stat` rows, through the collection's HAProxy client."""
    return list(haproxy().stats(str(admin), backend).values())


def wait_up(chain: Chain, backend: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            servers = backend_stats(chain.admin, backend)
            if servers and all(s["status"] == "UP" for s in servers):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{chain.haproxy}: proxies not UP\n" + logs([chain.haproxy]))
        time.sleep(0.2)


# --- measuring ------------------------------------------------------------------------------


def cpu_sources(containers: list[str]) -> tuple[list[Path], list[int]]:
    """Each container's cgroup file, and its containerd shim's pid (the parent of its init)."""
    files, shims = [], []
    for name in containers:
        cid, pid = docker("inspect", "-f", "{{.Id}} {{.State.Pid}}", name).split()
        path = cgroup_cpu_file(cid)
        if path is None:
            raise SystemExit(f"no cgroup CPU accounting found for {cid}")
        files.append(path)
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        shims.append(int(stat[1]))
    return files, shims


@dataclass
class Sample:
    rate: float
    p99: float
    cpu: dict[str, float]  # part -> us/request
    idle: float  # the machine's idle share of its CPUs during the run


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and idle CPU time so far (us; /proc/stat, iowait counted idle)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    scale = 1e6 / os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) * scale, idle * scale


def profiled(url: str, args, threads: int, parts: dict[str, list], engine: list[int]) -> Sample:
    before = {part: sum(cpu_us(s) for s in sources) for part, sources in parts.items()}
    engine_before = sum(cpu_us(pid) for pid in engine)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, idle_before = machine_cpu()
    started = time.monotonic()
    rate, p99 = wrk(url, args.seconds, args.connections, threads, host=DOMAIN)
    requests_done = rate * (time.monotonic() - started)
    busy_after, idle_after = machine_cpu()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        part: (sum(cpu_us(s) for s in sources) - before[part]) / requests_done
        for part, sources in parts.items()
    }
    cpu["engine"] = (sum(cpu_us(pid) for pid in engine) - engine_before) / requests_done
    wrk_s = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    cpu["wrk"] = wrk_s * 1e6 / requests_done
    # Everything else the machine ran meanwhile (other sessions, the kernel's own threads).
    cpu["other"] = (busy_after - busy_before) / requests_done - sum(cpu.values())
    idle = (idle_after - idle_before) / (busy_after - busy_before + idle_after - idle_before)
    return Sample(rate, p99, cpu, idle)


def dockerd_pid() -> int:
    try:
        return int(Path("/var/run/docker.pid").read_text())
    except (OSError, ValueError):
        return int(
            subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()[0]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", help="comma-separated variant names (baseline always runs)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--ref", default="HEAD", help='the commit whose roles to copy, or "worktree"'
    )
    args = parser.parse_args()
    variants = VARIANTS
    if args.only:
        wanted = {"baseline", *args.only.split(",")}
        variants = [v for v in VARIANTS if v.name in wanted]
        if missing := wanted - {v.name for v in variants}:
            raise SystemExit(f"no such variant: {', '.join(sorted(missing))}")
    samples: dict[str, list[Sample]] = {v.name: [] for v in variants}
    samples["direct"] = []
    ratios: dict[str, list[float]] = {v.name: [] for v in variants}
    reuse: dict[str, str] = {}
    backend = None
    with open(ENGINE_LOCK, "a") as lock, tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        if os.environ.get(LOCK_HELD_ENV) != "1":
            print("waiting for the engine lock ...", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        cleanup()
        try:
            workdir = Path(tmp)
            args.source = use_source(args.ref, workdir)
            address = start_service(workdir)
            started = time.monotonic()
            chains: dict[str, Chain] = {}
            for index, variant in enumerate(variants):
                if not variant.same_chain_as:
                    chains[variant.name] = start_chain(index, variant, workdir, address)
            for variant in variants:
                if variant.same_chain_as:
                    chains[variant.name] = chains[variant.same_chain_as]
            backend = role_vars(0, 0)["sws_loadbalancer_backend"]
            for chain in chains.values():
                wait_up(chain, backend)
            print(f"{len(chains)} chains up in {time.monotonic() - started:.0f} s", flush=True)
            service_files, service_shims = cpu_sources([SERVICE])
            engine_base = [dockerd_pid()]
            measures = {}
            for variant in variants:
                chain = chains[variant.name]
                haproxy_files, haproxy_shims = cpu_sources([chain.haproxy])
                proxy_files, proxy_shims = cpu_sources(chain.proxies)
                parts = {"HAProxy": haproxy_files, "proxies": proxy_files, "service": service_files}
                engine = engine_base + haproxy_shims + proxy_shims + service_shims
                url = f"http://127.0.0.1:{chain.port}/"
                measures[variant.name] = (url, variant.wrk_threads, parts, engine)
            direct = (
                f"http://{address}:{SERVICE_PORT}/",
                2,
                {"service": service_files},
                engine_base + service_shims,
            )
            wrk(direct[0], 1, args.connections, host=DOMAIN)  # warm up
            for url, threads, _, _ in measures.values():
                wrk(url, 1, args.connections, threads, host=DOMAIN)
            shuffle = random.Random(args.seed)
            for number in range(args.rounds):
                order = [v.name for v in variants]
                shuffle.shuffle(order)
                half = len(order) // 2
                round_samples, directs = {}, []
                for group in (order[:half], order[half:], []):
                    directs.append(profiled(direct[0], args, *direct[1:]))
                    for name in group:
                        round_samples[name] = profiled(measures[name][0], args, *measures[name][1:])
                reference = mean(d.rate for d in directs)
                samples["direct"].extend(directs)
                for name, sample in round_samples.items():
                    samples[name].append(sample)
                    ratios[name].append(sample.rate / reference)
                print(
                    f"round {number + 1}/{args.rounds}: direct {reference:,.0f}, baseline "
                    f"{ratios['baseline'][-1]:.2f}",
                    flush=True,
                )
            for variant in variants:
                if variant.same_chain_as:
                    continue
                servers = backend_stats(chains[variant.name].admin, backend)
                connects = sum(int(s.get("connect") or 0) for s in servers)
                reused = sum(int(s.get("reuse") or 0) for s in servers)
                reuse[variant.name] = f"{reused / max(connects + reused, 1):.3f}"
        finally:
            cleanup()
    report(variants, samples, ratios, reuse, chains, args)


def report(variants, samples, ratios, reuse, chains, args) -> None:
    parts = ["HAProxy", "proxies", "service", "wrk", "engine", "other"]
    print(
        f"\nHAProxy -> 2 nginx proxies -> nginx service (0.5 CPU), roles of {args.source}, "
        f"wrk -c{args.connections} (-t2 unless the variant says), {args.rounds} rounds x "
        f"{args.seconds} s, medians; ratio = median of the rounds' ratios to direct; CPU "
        "us/request (total: the chain's and wrk's, without other); idle: the machine's idle "
        "share; reuse: requests to the proxies on an open connection"
    )
    print(
        f"{'variant':40} {'req/s':>7} {'p99 ms':>6} {'ratio':>5} "
        + " ".join(f"{p:>7}" for p in parts)
        + f" {'total':>6} {'idle':>5} {'reuse':>5}  ratio per round"
    )

    def row(name: str, ratio: str, per_round: str, reused: str) -> None:
        rows = samples[name]
        cpu = {p: median(s.cpu[p] for s in rows) if p in rows[0].cpu else None for p in parts}
        total = sum(v for p, v in cpu.items() if v is not None and p != "other")
        print(
            f"{name:40} {median(s.rate for s in rows):7,.0f} {median(s.p99 for s in rows):6.1f} "
            f"{ratio:>5} "
            + " ".join(f"{v:7.1f}" if v is not None else f"{'-':>7}" for v in cpu.values())
            + f" {total:6.1f} {median(s.idle for s in rows):5.0%} {reused:>5}  {per_round}"
        )

    row("direct", "1.00", "", "")
    for variant in variants:
        values = ratios[variant.name]
        per_round = " ".join(f"{r:.2f}" for r in values)
        row(variant.name, f"{median(values):.2f}", per_round, reuse.get(variant.name, ""))
    print("\nvariants: what differs from the baseline (lines of the rendered files)")
    base = chains["baseline"].configs
    for variant in variants:
        lines = []
        for file, text in chains[variant.name].configs.items():
            diff = [
                line
                for line in difflib.unified_diff(base[file].splitlines(), text.splitlines(), n=0)
                if line[:1] in "+-" and line[:3] not in ("+++", "---") and "bind :" not in line
            ]
            if diff:
                changed = " ".join(f"[{line[0]}{line[1:].strip()}]" for line in diff)
                lines.append(f"      {file}: {changed}")
        if variant.proxy_docker:
            lines.append(f"      docker run (proxies): {' '.join(variant.proxy_docker)}")
        if variant.wrk_threads != 2:
            lines.append(f"      wrk -t{variant.wrk_threads}")
        print(f"  {variant.name}{': ' + variant.note if variant.note else ''}")
        for line in lines:
            print(line)


if __name__ == "__main__":
    main()
