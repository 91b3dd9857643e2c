"""The one set of variables a pass hands its playbook run: what to do on which host, the
rendered routes, and the names, paths and timeouts the plays need (extravar `sws_pass`).

reconcile.yml reads nothing else from the agent, and its run inventory has no group_vars:
playbooks/vars/pass.yml maps these onto the roles' own variables. Typed here, so a missing or
misspelt field fails in the agent, not in a play half-way through a pass. Every value comes
from the agent's config (its timeouts) or the host contract (sws.yml and the host's settings);
none has a default of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from swsagent.config import AgentConfig


@dataclass(frozen=True)
class ProxyView:
    """What the agent saw of a proxy before the run: the digest of the routes it last
    applied and whether HAProxy has it ready (the roll skips a proxy already up to date)."""

    applied_digest: str
    ready: bool


@dataclass(frozen=True)
class PlaneVars:
    """What reconcile.yml's first play needs to recreate a missing proxy or load balancer
    (roles/sws_proxy and roles/sws_loadbalancer, tasks_from: container): the contract's keys
    those tasks and the role defaults they use read, named as in sws.yml without `sws_`.
    The roles derive the rest (the apiserver's socket, HAProxy's config directory) as the
    bootstrap does, so each derivation stays in one place."""

    images: dict[str, str]  # the base image of each component in this host's mode
    proxy_conf_volume_suffix: str
    proxy_conf_mount: str
    proxy_socket_dir: str
    proxy_socket_mount: str
    proxy_network: str
    apiserver_socket_dir: str
    apiserver_socket: str
    loadbalancer_container: str
    etc_dir: str
    haproxy_run_dir: str
    haproxy_tls_dir: str

    @classmethod
    def from_config(cls, config: AgentConfig) -> PlaneVars:
        contract, names = config.contract, config.names
        return cls(
            images=dict(contract.images),
            proxy_conf_volume_suffix=contract.proxy_conf_volume_suffix,
            proxy_conf_mount=names.proxy_conf_dir,
            # agent.yml's names win over the contract's (tests run their own proxies).
            proxy_socket_dir=names.proxy_socket_dir,
            proxy_socket_mount=contract.proxy_socket_mount,
            proxy_network=contract.proxy_network,
            apiserver_socket_dir=contract.apiserver_socket_dir,
            apiserver_socket=contract.apiserver_socket,
            loadbalancer_container=names.loadbalancer,
            etc_dir=contract.etc_dir,
            haproxy_run_dir=contract.haproxy_run_dir,
            haproxy_tls_dir=str(config.haproxy_tls_dir),
        )


@dataclass(frozen=True)
class PassVars:
    revive: list[str]  # missing proxies / load balancer to recreate
    deploy: list[str]  # service hosts whose current generation starts
    roll: list[str]  # proxies to bring to this pass's routes
    retire: list[str]  # service hosts whose old containers (or all, when deleted) go
    routes: dict  # render.RoutesPlan.as_vars(): header, slot, entries
    plane: PlaneVars  # what recreating a missing proxy or load balancer needs
    services_network: str
    label_prefix: str
    ready_timeout: float
    stop_timeout: int
    haproxy_socket: str
    haproxy_backend: str
    roll_drain: str  # drain or reload (sws_roll_drain)
    drain_timeout: float
    proxy_conf_dir: str  # inside each proxy: where the roll writes the routes
    proxy_socket_dir: str
    proxy_health_socket: str
    proxies: dict[str, ProxyView] = field(default_factory=dict)
    deploy_first: list[str] = field(default_factory=list)  # of deploy: private, start first
    # Proxies rolled, both at once, to hold recreated services' routes before any deploy.
    hold: list[str] = field(default_factory=list)
    recreate_stop_wait: float = 0.0  # seconds a recreate's deploy waits for the older to stop
    retire_slots_dir: str = ""  # the host's removal slots (module_utils/retire.py)
    retire_slots: int = 4  # background stops and removals at once, host-wide
    # Where the volumes' filesystems live (agent.yml volumes_dir); "": plain Docker volumes.
    volumes_dir: str = ""
    # The operator's registries (sws_registries_allowed; empty: any not the host itself).
    registries_allowed: list[str] = field(default_factory=list)

    @classmethod
    def for_pass(cls, config: AgentConfig, **what) -> PassVars:
        names = config.names
        return cls(
            plane=PlaneVars.from_config(config),
            services_network=names.services_network,
            label_prefix=names.label_prefix,
            ready_timeout=config.ready_timeout,
            stop_timeout=config.stop_timeout,
            recreate_stop_wait=config.recreate_stop_wait,
            retire_slots_dir=str(config.state_dir / "retire-slots"),
            retire_slots=config.retire_slots,
            volumes_dir=str(config.disk.volumes_dir or ""),
            registries_allowed=list(config.contract.registries_allowed),
            haproxy_socket=str(config.haproxy_socket),
            haproxy_backend=names.haproxy_backend,
            roll_drain=config.contract.roll_drain,
            drain_timeout=config.drain_timeout,
            proxy_conf_dir=names.proxy_conf_dir,
            proxy_socket_dir=names.proxy_socket_dir,
            proxy_health_socket=names.proxy_health_socket,
            **what,
        )

    def hosts(self) -> list[str]:
        """Every host the run touches (its --limit), each once."""
        return list(dict.fromkeys([*self.revive, *self.deploy, *self.roll, *self.retire]))

    def as_extravars(self) -> dict:
        """sws_pass, and the rendered routes apart as sws_routes: Ansible 2.19 pays for a
        variable's whole size at each access to it (about 25 ms per 100 routes, measured on an
        empty play), every task and condition of a pass reads sws_pass, and only the roll's one
        task reads the routes."""
        values = asdict(self)
        routes = values.pop("routes")
        return {"sws_pass": values, "sws_routes": routes}
