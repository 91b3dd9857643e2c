"""The agent's settings: /etc/sws/agent.yml (or --config / SWS_AGENT_CONFIG) plus the names
the bootstrap defines once in inventory/group_vars/all/sws.yml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from swsagent.disklimits import DISK_KEYS, DiskLimits, DiskSettingError, disk_limits
from swsagent.proxyfiles import ProxyFiles
from swsagent.swarm.settings import SwarmSettingError, SwarmSettings, swarm_settings
from swscore.dburl import with_password
from swscore.hostcontract import ContractError, HostContract, load_contract, read_mapping
from swscore.spec import cpus_decimal, memory_bytes

DEFAULT_CONFIG = "/etc/sws/agent.yml"
# Where playbooks/, roles/ and inventory/ live when agent.yml does not say (the agent's install).
DEFAULT_PROJECT_DIR = Path("/opt/sws/agent/project")


class AgentConfigError(ValueError):
    """A setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Names:
    """The host's fixed names (containers, network, HAProxy backend), from the host contract;
    agent.yml's names: may override each (tests use their own network and proxies)."""

    services_network: str
    proxies: tuple[str, ...]
    loadbalancer: str
    haproxy_backend: str
    # The socket nginx's route server blocks listen on, inside the proxy containers.
    proxy_routes_socket: str
    # On the host: <proxy_socket_dir>/<proxy>/<proxy_health_socket> answers GET /healthz.
    proxy_socket_dir: str
    proxy_health_socket: str
    # Labels are <prefix>.service, <prefix>.generation, ...; the agent owns every container
    # that carries <prefix>.service (tests use their own prefix, so a live host is left alone).
    label_prefix: str
    # Where each proxy's configuration volume is mounted inside it.
    proxy_conf_dir: str

    @classmethod
    def from_contract(cls, contract: HostContract) -> Names:
        return cls(
            services_network=contract.services_network,
            proxies=contract.proxy_containers,
            loadbalancer=contract.loadbalancer_container,
            haproxy_backend=contract.haproxy_backend,
            proxy_routes_socket=contract.proxy_routes_socket,
            proxy_socket_dir=contract.proxy_socket_dir,
            proxy_health_socket=contract.proxy_health_socket,
            label_prefix=contract.label_prefix,
            proxy_conf_dir=contract.proxy_conf_mount,
        )

    @property
    def proxy_files(self) -> ProxyFiles:
        return ProxyFiles(self.proxy_conf_dir)


# The capabilities a service container keeps (Docker's default set minus NET_RAW, MKNOD,
# SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE and FSETID): enough for an image that starts as
# root to chown its files, bind a low port and drop to its own user, and for a process to
# signal its children. README.md ("Isolation") lists them for users.
SERVICE_CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
    "KILL",
)


@dataclass(frozen=True)
class Containment:
    """How every service container is contained: the operator's default limits (a spec's
    resources replace memory and cpus) and the capabilities it keeps."""

    memory: int = 256 * 2**20  # bytes (sws_service_memory)
    cpus: str = "0.5"  # sws_service_cpus
    pids: int = 256  # sws_service_pids
    capabilities: tuple[str, ...] = SERVICE_CAPABILITIES


@dataclass(frozen=True)
class AgentConfig:
    database_url: str
    # The names, paths and host settings of sws.yml (project_dir's), host_settings over it.
    contract: HostContract
    # The contract's names, with agent.yml's names: over them.
    names: Names
    # Where playbooks/, roles/ and inventory/ live (the agent's install, or a checkout).
    project_dir: Path = DEFAULT_PROJECT_DIR
    state_dir: Path = Path("/var/lib/sws/agent")
    haproxy_socket: Path = Path("/run/sws/haproxy/admin.sock")
    # This host's settings (images, ports: sws_* keys), read over project_dir's sws.yml into
    # the contract; None: sws.yml alone.
    host_settings: Path | None = None
    ready_timeout: float = 30.0  # seconds a new container has to accept connections
    # Seconds a drained proxy has to finish its requests in flight. HAProxy holds the clients'
    # connections (HTTP mode), so a drain ends within a request's time; only long requests
    # (event streams, websockets) last longer, and the reload does not cut those (old workers
    # finish them): waiting for them gains nothing. bench/roll_drain.py, two log streams open:
    # a roll of both proxies takes 10.5 s waiting up to 5 s, 1.0 s waiting up to 0.5 s, with
    # 0 failed requests either way (ARCHITECTURE.md, "Proxy roll").
    drain_timeout: float = 0.5
    stop_timeout: int = 10  # seconds docker stop waits before it kills an old container
    # Seconds a recreate's deploy waits for the older generation to stop before it starts the
    # new one in the same pass (holds.py). A longer stop goes on in the background and the next
    # pass starts the new one: no pass waits for a stop timeout, and the 503 gap of a quick
    # stop is not a second pass longer.
    recreate_stop_wait: float = 2.0
    # Background stops and removals running at once on the host (each waits its stop timeout
    # at most; the rest queue): a hundred at once left an endpoint behind on the services
    # network in Docker 20.10, which then could not be removed until dockerd restarted.
    retire_slots: int = 4
    full_pass_interval: float = 60.0  # watch mode: the safety-net full pass
    debounce: float = 0.3  # watch mode: quiet time after a change before a pass
    # Serving containers' spec.healthCheck is probed by a pass at most this often (seconds; 0:
    # every pass): a watching agent's passes follow each apply, and the probes (2 s each at
    # worst, 8 at once) are not part of applying a spec.
    health_interval: float = 30.0
    # A pass stops cleanly (outcome aborted) at the first stage it reaches past this.
    pass_timeout: float = 600.0
    # Seconds any one call to the store may take (connect, statement, commit), this side.
    store_timeout: float = 10.0
    # Orphans (containers the store does not list) are removed only while they are at most this
    # share of the services running here; more means a store read gone wrong.
    max_orphan_share: float = 0.5
    # Fair share: a pass deploys at most this many services of one user (oldest change first);
    # the rest are queued for the next pass, which the watching agent runs at once. 0: no limit.
    deploys_per_user: int = 10
    # An orphan is stopped at once but removed only after staying one this many seconds
    # (orphans.py).
    orphan_grace: float = 3600.0
    # A failed generation is deployed again this many times, after retry_backoff seconds,
    # then twice that, and so on (retries.py).
    retry_failed: int = 3
    retry_backoff: float = 30.0
    passes_kept: int = 1000
    # Stacks (issue 24): each stack's private network gets a subnet of this size from this
    # range (stacks.py). A /16 of /28s holds 4,096 stacks; Docker's own pools stay untouched.
    stack_subnets: str = "10.201.0.0/16"
    stack_subnet_prefix: int = 28
    forks: int = 10
    containment: Containment = field(default_factory=Containment)
    # Volume sizes and their directory, the free-space floor, the writable layers' watch.
    disk: DiskLimits = field(default_factory=DiskLimits)
    # HTTPS (issue 15). tls_dir holds the key that opens certificates sealed in the store;
    # None (the default, so a test agent never touches a live host's proxies): no HTTPS.
    tls_dir: Path | None = None
    # HAProxy's TLS directory (its crt-list and PEMs; the same path in its container): where
    # the pass puts the certificates HAProxy ends TLS with (certs.py).
    haproxy_tls_dir: Path = Path("/etc/sws/haproxy-tls")
    https_port: int = 443
    # A spec without tls.certificate gets this: none, acme or uploaded.
    tls_default_certificate: str = "none"
    # ACME (sws-agent certs): the CA's directory URL (None: no ACME), a CA bundle its HTTPS is
    # verified with (a private CA's, e.g. pebble's), the account's e-mail, a DNS server
    # (host:port) that says where a domain points (None: the system's resolver), this host's
    # public addresses (empty: every address `ip addr` lists), renewal window and first backoff.
    acme_directory: str | None = None
    acme_ca_bundle: str | None = None
    acme_email: str | None = None
    acme_dns_server: str | None = None
    acme_host_addresses: tuple[str, ...] = ()
    acme_renew_days: int = 30
    acme_backoff: int = 3600
    # The API domain's certificate: "local" (the bootstrap's, signed by the host's own CA) or
    # "acme" (sws-agent certs orders it once the domain resolves here; the bootstrap's serves
    # until then).
    api_domain: str | None = None
    api_certificate: str = "local"
    # The services' firewall (firewall.py): every pass checks SWS's iptables rules and puts
    # back what is gone. Off unless set (the bootstrap's agent.yml sets it), so a test agent
    # never touches the host's tables.
    firewall: bool = False
    # Jobs (issue 26): a scheduled job's time limit when its spec names none (the API's
    # SWS_MAX_JOB_TIMEOUT caps what a spec names), the runs kept per job (and of one-off runs
    # per service) and the output lines kept per run.
    job_timeout: int = 600
    job_runs_kept: int = 20
    job_lines_kept: int = 2000
    # Backups (issue 27, backuppass.py): where the volumes' copies are kept (None: no backups
    # on this host), where uploads for a restore wait, the copies kept per volume, the group
    # that may read them (the apiserver's: nobody's), the helpers' image (sws.yml's python).
    backups_dir: Path | None = None
    backup_spool_dir: Path | None = None
    backups_kept: int = 5
    backups_group: int = 65534
    backup_image: str | None = None
    # A Docker Swarm (issue 28, swsagent/swarm/): None, the default, is one host and no cost.
    swarm: SwarmSettings | None = None

    @property
    def helper_image(self) -> str:
        return self.backup_image or self.contract.images["python"]

    @property
    def swarm_executor(self) -> bool:  # the pass deploys on the swarm (`swarm.executor`)
        return self.swarm is not None and self.swarm.executor


# agent.yml's keys for Containment (the bootstrap writes them from sws.yml's sws_service_*).
_CONTAINMENT_KEYS = {"service_memory", "service_cpus", "service_pids"}
_PATH_KEYS = {
    "project_dir",
    "state_dir",
    "haproxy_socket",
    "host_settings",
    "tls_dir",
    "haproxy_tls_dir",
    "backups_dir",
    "backup_spool_dir",
}
_FLOAT_KEYS = {
    "ready_timeout",
    "recreate_stop_wait",
    "drain_timeout",
    "full_pass_interval",
    "debounce",
    "health_interval",
    "pass_timeout",
    "store_timeout",
    "max_orphan_share",
    "orphan_grace",
    "retry_backoff",
}
_INT_KEYS = {
    "stop_timeout",
    "retire_slots",
    "passes_kept",
    "forks",
    "retry_failed",
    "deploys_per_user",
    "https_port",
    "acme_renew_days",
    "acme_backoff",
    "stack_subnet_prefix",
    "job_timeout",
    "job_runs_kept",
    "job_lines_kept",
    "backups_kept",
    "backups_group",
}
_ACME_TEXT_KEYS = {
    "acme_directory",
    "acme_ca_bundle",
    "acme_email",
    "acme_dns_server",
    "api_domain",
    "backup_image",
}
API_CERTIFICATE_SOURCES = ("local", "acme")


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("SWS_AGENT_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike | None = None) -> AgentConfig:
    """Read agent.yml; every key but database_url has a default."""
    path = config_path(str(path) if path else None)
    raw = read_mapping(path, AgentConfigError, f"the agent config {path}", "settings")
    return config_from_mapping(raw, source=str(path))


def config_from_mapping(raw: dict, source: str = "agent config") -> AgentConfig:
    known = {f.name for f in fields(AgentConfig)} - {"containment", "contract", "disk"}
    known |= {"database_password_file"} | _CONTAINMENT_KEYS | DISK_KEYS
    unknown = sorted(set(raw) - known)
    if unknown:
        raise AgentConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
    url = raw.get("database_url")
    if not isinstance(url, str) or not url:
        raise AgentConfigError(f"{source}: database_url is required (postgresql://...)")
    if raw.get("database_password_file"):
        url = _with_password(url, raw["database_password_file"])
    values: dict = {"database_url": url}
    for key in _PATH_KEYS & set(raw):
        if raw[key] is not None:
            values[key] = Path(raw[key])
    for key in (_FLOAT_KEYS | _INT_KEYS) & set(raw):
        values[key] = _number(raw[key], key, source, int if key in _INT_KEYS else float)
    try:
        contract = load_contract(
            values.get("project_dir", DEFAULT_PROJECT_DIR), values.get("host_settings")
        )
    except ContractError as err:
        raise AgentConfigError(f"{source}: {err}") from None
    values["contract"] = contract
    names = Names.from_contract(contract)
    values["names"] = _override_names(names, raw.get("names") or {}, source)
    values["containment"] = _containment(raw, source)
    try:
        values["disk"] = disk_limits(raw, source)
        if raw.get("swarm") is not None:
            values["swarm"] = swarm_settings(raw["swarm"], source)
    except (DiskSettingError, SwarmSettingError) as err:
        raise AgentConfigError(str(err)) from None
    if "tls_default_certificate" in raw:
        values["tls_default_certificate"] = _certificate_source(raw, source)
    for key in _ACME_TEXT_KEYS & set(raw):
        if raw[key] is not None:
            values[key] = str(raw[key])
    if raw.get("stack_subnets") is not None:
        values["stack_subnets"] = _subnet_range(raw["stack_subnets"], source)
    if "firewall" in raw:
        if not isinstance(raw["firewall"], bool):
            raise AgentConfigError(f"{source}: firewall must be true or false")
        values["firewall"] = raw["firewall"]
    if raw.get("acme_host_addresses"):
        values["acme_host_addresses"] = tuple(str(a) for a in raw["acme_host_addresses"])
    if "api_certificate" in raw:
        if raw["api_certificate"] not in API_CERTIFICATE_SOURCES:
            raise AgentConfigError(
                f"{source}: api_certificate must be one of "
                f"{', '.join(API_CERTIFICATE_SOURCES)}, not {raw['api_certificate']!r}"
            )
        values["api_certificate"] = raw["api_certificate"]
    return AgentConfig(**values)


def _subnet_range(value, source: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_network(str(value)))
    except ValueError:
        raise AgentConfigError(
            f"{source}: stack_subnets must be a network such as 10.201.0.0/16, not {value!r}"
        ) from None


def _certificate_source(raw: dict, source: str) -> str:
    from swscore.spec import TLS_CERTIFICATE_SOURCES

    value = raw["tls_default_certificate"]
    if value not in TLS_CERTIFICATE_SOURCES:
        raise AgentConfigError(
            f"{source}: tls_default_certificate must be one of "
            f"{', '.join(TLS_CERTIFICATE_SOURCES)}, not {value!r}"
        )
    return value


def _containment(raw: dict, source: str) -> Containment:
    values: dict = {}
    parsers = {
        "service_memory": ("memory", lambda v: memory_bytes(str(v))),
        "service_cpus": ("cpus", lambda v: format(cpus_decimal(v).normalize(), "f")),
    }
    for key, (attr, parse) in parsers.items():
        if raw.get(key) is None:
            continue
        try:
            values[attr] = parse(raw[key])
        except ValueError as err:
            raise AgentConfigError(f"{source}: {key} {err}") from None
    if raw.get("service_pids") is not None:
        values["pids"] = _number(raw["service_pids"], "service_pids", source, int)
    return Containment(**values)


def _override_names(names: Names, overrides: dict, source: str) -> Names:
    """agent.yml may override a name (tests use their own network and proxies)."""
    if not isinstance(overrides, dict):
        raise AgentConfigError(f"{source}: names must be a mapping")
    known = {f.name for f in fields(Names)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise AgentConfigError(f"{source}: unknown name(s) {', '.join(unknown)}")
    if "proxies" in overrides:
        overrides = {**overrides, "proxies": tuple(overrides["proxies"] or ())}
    return replace(names, **overrides)


def _number(value, key: str, source: str, kind):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise AgentConfigError(f"{source}: {key} must be a number, not {value!r}") from None
    if number < 0:
        raise AgentConfigError(f"{source}: {key} must not be negative")
    return number


def _with_password(url: str, password_file: str) -> str:
    try:
        return with_password(url, password_file)
    except OSError as err:
        raise AgentConfigError(
            f"database_password_file: cannot read {password_file}: {err}"
        ) from None
