"""The one set of variables a pass hands its playbook run: what to do on which host, the
rendered routes, and the names and settings the plays need (extravar `sws_pass`).

reconcile.yml reads nothing else from the agent; playbooks/vars/pass.yml maps these onto the
roles' own variables. Typed here, so a missing or misspelt field fails in the agent, not in a
play half-way through a pass.
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
class PassVars:
    revive: list[str]  # missing proxies / load balancer to recreate
    deploy: list[str]  # service hosts whose current generation starts
    roll: list[str]  # proxies to bring to this pass's routes
    retire: list[str]  # service hosts whose old containers (or all, when deleted) go
    routes: dict  # render.RoutesPlan.as_vars(): header, slot, entries
    proxies: dict[str, ProxyView] = field(default_factory=dict)
    deploy_first: list[str] = field(default_factory=list)  # of deploy: private, start first
    services_network: str = "sws-services"
    label_prefix: str = "sws"
    ready_timeout: float = 30.0
    stop_timeout: int = 10
    haproxy_socket: str = "/run/sws/haproxy/admin.sock"
    haproxy_backend: str = "proxies"
    drain_timeout: float = 0.5
    proxy_socket_dir: str = "/run/sws/proxies"
    proxy_health_socket: str = "healthz.sock"

    @classmethod
    def for_pass(cls, config: AgentConfig, **what) -> PassVars:
        names = config.names
        return cls(
            services_network=names.services_network,
            label_prefix=names.label_prefix,
            ready_timeout=config.ready_timeout,
            stop_timeout=config.stop_timeout,
            haproxy_socket=str(config.haproxy_socket),
            haproxy_backend=names.haproxy_backend,
            drain_timeout=config.drain_timeout,
            proxy_socket_dir=names.proxy_socket_dir,
            proxy_health_socket=names.proxy_health_socket,
            **what,
        )

    def hosts(self) -> list[str]:
        """Every host the run touches (its --limit), each once."""
        return list(dict.fromkeys([*self.revive, *self.deploy, *self.roll, *self.retire]))

    def as_extravars(self) -> dict:
        return {"sws_pass": asdict(self)}
