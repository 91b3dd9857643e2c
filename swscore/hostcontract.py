"""The host contract: every name, path and host setting the bootstrap, the agent and the plays
share, typed, read from the one file that defines them (inventory/group_vars/all/sws.yml),
then from this host's settings file (the bootstrap's /etc/sws/agent-host.yml), which overrides.

Each field is a key of sws.yml without its `sws_` prefix, so the file and this class cannot
drift apart unnoticed: a key the class does not know, a key it misses, or a value of the wrong
type is an error naming the key and the file. What sws.yml leaves to Jinja (images.yml) is
derived here as properties, the same way.
"""

from __future__ import annotations

import ipaddress
import typing
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

# Relative to a project directory (a checkout, or the agent's installed copy).
CONTRACT_FILE = Path("inventory") / "group_vars" / "all" / "sws.yml"
PREFIX = "sws_"
ROLL_DRAIN_MODES = ("drain", "reload")


class ContractError(ValueError):
    """sws.yml or the host's settings break the contract; the message names the key and file."""


@dataclass(frozen=True)
class HostContract:
    # What a user usually changes.
    http_port: int
    api_domain: str
    confdb_host_port: int
    offline_images: bool
    purge: bool
    # HTTPS (issue 15).
    https_port: int
    tls_default_certificate: str
    acme_directory: str
    acme_email: str
    api_certificate: str
    tls_host_dir: str
    haproxy_tls_dir: str
    proxy_https_socket: str
    haproxy_tls_backend: str
    # What every service container gets.
    default_service_memory: str
    default_service_cpus: str
    default_service_pids: int
    max_service_memory: str
    max_service_cpus: str
    service_quota: int
    # Disk (issue 25): volume sizes, where the volumes live, the free-space floor, the watch
    # of containers' writable layers.
    default_service_disk: str
    max_service_disk: str
    max_service_replicas: int
    volumes_dir: str
    backups_dir: str
    backup_spool_dir: str
    backups_kept: int
    store_backups_kept: int
    backup_upload_max: str
    backup_quota: str
    min_free_disk: str
    writable_layer_max: str
    # Names.
    control_network: str
    services_network: str
    services_bridge: str
    stack_bridge_prefix: str
    confdb_container: str
    confdb_volume: str
    confdb_database: str
    confdb_user: str
    apiserver_container: str
    loadbalancer_container: str
    proxy_containers: tuple[str, ...]
    proxy_conf_volume_suffix: str
    proxy_conf_mount: str
    proxy_http_socket: str
    proxy_health_socket: str
    proxy_socket_mount: str
    proxy_network: str  # host, or the proxies' own bridge (the swarm executor's edge)
    apiserver_port: int
    apiserver_socket: str
    haproxy_backend: str
    service_label: str
    roll_drain: str
    # The host's firewall for the services (issue 25).
    input_chain: str
    forward_chain: str
    blocked_ranges: tuple[str, ...]
    registries_allowed: tuple[str, ...]  # issue 26: empty, any registry not the host itself
    # Host paths.
    etc_dir: str
    haproxy_run_dir: str
    haproxy_socket: str
    proxy_socket_dir: str
    edge_gid: int
    apiserver_socket_dir: str
    agent_home: str
    agent_project_dir: str
    agent_venv: str
    agent_state_dir: str
    agent_config: str
    logship_lock: str
    build_dir: str
    # Images.
    upstream_images: dict[str, str]
    offline_images_names: dict[str, str]
    apiserver_image_repository: str
    hello_image: str

    @property
    def images(self) -> dict[str, str]:
        """The base image of each component in this host's mode (images.yml's sws_images)."""
        return self.offline_images_names if self.offline_images else self.upstream_images

    @property
    def proxy_conf_volumes(self) -> tuple[str, ...]:
        """The proxies' configuration volumes, one per proxy (images.yml's)."""
        return tuple(p + self.proxy_conf_volume_suffix for p in self.proxy_containers)

    @property
    def proxy_routes_socket(self) -> str:
        """The routes' socket inside each proxy (roles/sws_proxy's sws_proxy_routes_socket)."""
        return f"{self.proxy_socket_mount}/{self.proxy_http_socket}"

    @property
    def label_prefix(self) -> str:
        """Labels are <prefix>.service, <prefix>.generation, ...: the prefix of service_label."""
        return self.service_label.removesuffix(".service")


def load_contract(project_dir: str | Path, host_settings: str | Path | None = None) -> HostContract:
    """The project's sws.yml, then the host's settings over it (None or absent: none)."""
    path = Path(project_dir) / CONTRACT_FILE
    values = _read(path)
    missing = sorted(set(_TYPES) - set(values))
    if missing:
        raise ContractError(f"{path}: missing key(s) {', '.join(PREFIX + k for k in missing)}")
    if host_settings is not None and Path(host_settings).is_file():
        values.update(_read(Path(host_settings)))
    return HostContract(**values)


def read_mapping(path, error: type[Exception], named: str, holding: str) -> dict:
    """A YAML file that must be one mapping (sws.yml, the host settings, agent.yml); every
    problem is `error` naming the file: `named` in the read error, `holding` what it maps."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise error(f"cannot read {named}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise error(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise error(f"{path} must be a mapping of {holding}")
    return raw


def _read(path: Path) -> dict:
    """{field: typed value} of one file; every key known and of its field's type."""
    raw = read_mapping(path, ContractError, str(path), "sws_* settings")
    values = {}
    for key, value in raw.items():
        name = str(key).removeprefix(PREFIX)
        if not str(key).startswith(PREFIX) or name not in _TYPES:
            raise ContractError(f"{path}: unknown key {key}")
        values[name] = _typed(value, _TYPES[name], f"{path}: {key}")
    if values.get("roll_drain", ROLL_DRAIN_MODES[0]) not in ROLL_DRAIN_MODES:
        raise ContractError(
            f"{path}: {PREFIX}roll_drain must be one of {', '.join(ROLL_DRAIN_MODES)}, "
            f"not {values['roll_drain']!r}"
        )
    _check_bridges(values, path)
    if "blocked_ranges" in values:
        values["blocked_ranges"] = _networks(values["blocked_ranges"], path)
    return values


# Linux keeps an interface's name in 16 bytes, the last a NUL; a stack's bridge is the prefix
# and 8 hex digits (stacks.bridge_name).
_IFNAME_MAX = 15
_STACK_BRIDGE_SUFFIX = 8


def _check_bridges(values: dict, path: Path) -> None:
    limits = {
        "services_bridge": _IFNAME_MAX,
        "stack_bridge_prefix": _IFNAME_MAX - _STACK_BRIDGE_SUFFIX,
    }
    for key, most in limits.items():
        name = values.get(key)
        if name is not None and not (0 < len(name) <= most and name.isascii()):
            raise ContractError(
                f"{path}: {PREFIX}{key} must be 1 to {most} ASCII characters, not {name!r}"
            )
        if name is not None and any(c in name for c in " /+:!"):
            # iptables reads a trailing + as a wildcard and ! as negation.
            raise ContractError(f"{path}: {PREFIX}{key} must not contain ' /+:!': {name!r}")


def _networks(ranges: tuple[str, ...], path: Path) -> tuple[str, ...]:
    """Each an IPv4 network in CIDR form (iptables' own spelling: 10.0.0.0/8)."""
    found = []
    for text in ranges:
        try:
            network = ipaddress.ip_network(text)
        except ValueError:
            raise ContractError(
                f"{path}: {PREFIX}blocked_ranges: {text!r} is not a network such as "
                "10.0.0.0/8 (host bits must be zero)"
            ) from None
        if network.version != 4:
            # Service containers have no IPv6 (README.md, "Isolation"): nothing to block.
            raise ContractError(f"{path}: {PREFIX}blocked_ranges: {text!r} is not IPv4")
        found.append(str(network))
    return tuple(found)


def _typed(value, kind, where: str):
    """value as kind (int, str, bool, tuple[str, ...] or dict[str, str]), or ContractError."""
    if isinstance(value, str) and "{{" in value:
        # Only Ansible could render it, and then Python readers would see another value.
        raise ContractError(f"{where}: a Jinja template; sws.yml stays plain YAML (images.yml)")
    origin = typing.get_origin(kind)
    if origin is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif origin is dict:
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
    # bool is an int to Python, never to the contract.
    elif isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise ContractError(f"{where} must be {_kind_name(kind)}, not {value!r}")


def _kind_name(kind) -> str:
    names = {int: "a whole number", str: "a string", bool: "true or false"}
    if typing.get_origin(kind) is tuple:
        return "a list of strings"
    if typing.get_origin(kind) is dict:
        return "a mapping of strings"
    return names[kind]


_TYPES = {f.name: typing.get_type_hints(HostContract)[f.name] for f in fields(HostContract)}
