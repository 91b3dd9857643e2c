"""Keep the data path the agent owns running: the proxies and the load balancer.

A pass observes them (observe_components), plans what to do (plan_revival: pure), and its run
acts (revive, then the playbook): a proxy or load balancer that is stopped, paused or dead is
started again; one that is missing is recreated from its role by the pass's playbook. A proxy
that is not up is first put in maintenance in HAProxy, so that when it comes back (started by
us, or restarted by Docker) HAProxy sends it nothing until a roll has brought its routes up to
date and set it ready again.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from dataclasses import dataclass, field

from swsagent import collection
from swsagent.config import Names

# docker inspect's State.Status values for a container that can be started again.
_STARTABLE = {"created", "exited", "dead"}


@dataclass(frozen=True)
class Component:
    name: str
    status: str  # running | restarting | paused | exited | created | dead | missing
    detail: str = ""  # exit code, error, how long it has been in this state
    # {path in the container: its source on this host} of its volumes and bind mounts: the
    # agent (root on the host) reads a proxy's routes there instead of through docker exec.
    mounts: dict = field(default_factory=dict, compare=False)

    @property
    def up(self) -> bool:
        return self.status == "running"

    def describe(self) -> str:
        return f"{self.name} is {self.status}" + (f" ({self.detail})" if self.detail else "")


def observe_components(names: list[str]) -> dict[str, Component]:
    """One docker inspect of the given containers; an absent one is `missing`."""
    found: dict[str, Component] = {}
    try:
        result = subprocess.run(
            ["docker", "inspect", *names], capture_output=True, text=True, timeout=30
        )
        details = json.loads(result.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        details = []
    for d in details:
        name = d.get("Name", "").lstrip("/")
        state = d.get("State") or {}
        status = state.get("Status") or "unknown"
        detail = ""
        if status in ("exited", "dead"):
            detail = f"exit code {state.get('ExitCode')}"
            if state.get("Error"):
                detail += f", {state['Error']}"
        elif status == "restarting":
            detail = f"restarted {d.get('RestartCount', 0)} times"
        mounts = {
            m["Destination"]: m["Source"]
            for m in d.get("Mounts") or []
            if m.get("Destination") and m.get("Source")
        }
        found[name] = Component(name, status, detail, mounts)
    return {n: found.get(n, Component(n, "missing")) for n in names}


@dataclass(frozen=True)
class Revival:
    """What a pass does about the control plane, planned from what it observed."""

    before: dict[str, Component]
    start: list[str]  # stopped, paused or dead: started again (the load balancer first)
    missing: list[str]  # absent: recreated from its role by the pass's playbook
    maint: list[str]  # proxies not up: no traffic until a roll readies them

    @property
    def up(self) -> list[str]:
        """The components up before the pass."""
        return [n for n, c in self.before.items() if c.up]


def plan_revival(names: Names, plane: dict[str, Component]) -> Revival:
    """Pure: start what is stopped, recreate what is missing, hold back the proxies not up."""
    order = [names.loadbalancer, *names.proxies]
    return Revival(
        before=plane,
        start=[n for n in order if not plane[n].up and _startable(plane[n])],
        missing=[n for n in order if plane[n].status == "missing"],
        maint=[p for p in names.proxies if not plane[p].up],
    )


def revive(names: Names, haproxy_socket, revival: Revival) -> tuple[list[str], list[str]]:
    """The run's first step: proxies not up go to maintenance in HAProxy, then what is stopped
    starts again (the load balancer first, and its admin socket is awaited). (started,
    problems)."""
    started, problems = [], []
    lb = names.loadbalancer
    if lb in revival.start and _start(revival.before[lb], problems):
        started.append(lb)
        _wait_for_socket(haproxy_socket)
    for proxy in revival.maint:
        set_maint(haproxy_socket, names.haproxy_backend, proxy)
    for proxy in names.proxies:
        if proxy in revival.start and _start(revival.before[proxy], problems):
            started.append(proxy)
    return started, problems


def set_maint(haproxy_socket, backend: str, server: str) -> None:
    """No traffic to this proxy until a roll readies it (ignored when HAProxy is down too)."""
    with contextlib.suppress(OSError, ValueError):
        collection.haproxy().set_state(haproxy_socket, backend, server, "maint")


def _startable(component: Component) -> bool:
    # Missing: the playbook recreates it; restarting: Docker is on it.
    return component.status == "paused" or component.status in _STARTABLE


def _start(component: Component, problems: list[str]) -> bool:
    if component.status == "paused":
        argv = ["docker", "unpause", component.name]
    elif component.status in _STARTABLE:
        argv = ["docker", "start", component.name]
    else:
        return False  # missing (the playbook recreates it) or restarting (Docker is on it)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        problems.append(f"{component.describe()} and could not be started: {err}")
        return False
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        problems.append(f"{component.describe()} and could not be started: {why[0][:200]}")
        return False
    return True


def _wait_for_socket(haproxy_socket, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            collection.haproxy().command(haproxy_socket, "show info", timeout=1.0)
            return
        except OSError:
            time.sleep(0.1)
