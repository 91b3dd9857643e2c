"""agent.yml's `swarm` section: where the manager's engine is, how the nodes report, and
whether the pass deploys the services on the swarm.

swarm:
  manager_socket: /var/run/docker.sock   # the manager's Engine API (the SWS host's own)
  report_image: sws-local/node-report:bookworm
  report_interval: 10                    # seconds between two reports of a node
  data_root: /var/lib/docker             # whose free space a node reports
  executor: false                        # true: each generation is a swarm service

With `executor: false` (the default) the section only turns on the nodes step: the services
stay containers on the SWS host, observed and deployed exactly as without a swarm. With
`executor: true` the pass observes SWS's generation services on the manager instead of the
host's containers and renders for the swarm executor (swsagent/swarm/executor.py); it is
chosen once, in agent.yml, never per service.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

REPORT_SERVICE = "sws-node-report"


class SwarmSettingError(ValueError):
    """A `swarm` setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class SwarmSettings:
    manager_socket: str
    # The image of the report service's shell loop: any image with a POSIX sh, df and tail
    # (busybox's static binary is enough), present on every node or pullable there.
    report_image: str
    report_interval: int = 10
    data_root: str = "/var/lib/docker"
    # Seconds the manager may take to gather the report's logs from every node (a node that
    # is down answers with an error, not a hang; this bounds what is not foreseen).
    logs_timeout: float = 5.0
    # The pass deploys generations as swarm services (issue 28) instead of host containers.
    executor: bool = False


def swarm_settings(raw, source: str) -> SwarmSettings:
    """The section, checked; an error names `swarm.<key>`."""
    if not isinstance(raw, dict):
        raise SwarmSettingError(f"{source}: swarm must be a mapping (manager_socket: ...)")
    known = {f.name for f in fields(SwarmSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SwarmSettingError(f"{source}: unknown setting(s) swarm.{', swarm.'.join(unknown)}")
    values = {}
    for key in ("manager_socket", "report_image", "data_root"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise SwarmSettingError(f"{source}: swarm.{key} must be a non-empty string")
            values[key] = raw[key].strip()
    for key in ("manager_socket", "report_image"):
        if key not in values:
            raise SwarmSettingError(f"{source}: swarm.{key} is required")
    if not values.get("data_root", "/").startswith("/"):
        raise SwarmSettingError(f"{source}: swarm.data_root must be an absolute path")
    for key, kind in (("report_interval", int), ("logs_timeout", float)):
        if key in raw:
            values[key] = _positive(raw[key], key, kind, source)
    if "executor" in raw:
        if not isinstance(raw["executor"], bool):
            raise SwarmSettingError(f"{source}: swarm.executor must be true or false")
        values["executor"] = raw["executor"]
    return SwarmSettings(**values)


def _positive(value, key: str, kind, source: str):
    if isinstance(value, bool):
        raise SwarmSettingError(f"{source}: swarm.{key} must be a number, not {value!r}")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SwarmSettingError(f"{source}: swarm.{key} must be a number, not {value!r}") from None
    if number <= 0:
        raise SwarmSettingError(f"{source}: swarm.{key} must be more than 0")
    return number
