"""Following a service after apply or delete until the agent has acted on it.

The API only records wishes; the agent carries them out on its own schedule (up to a minute
later). Waiting is polling GET /v1/services/<name>: an applied generation is done when the
agent reports it running, and a deleted service when the API no longer knows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from swscore.contract import ServiceStatus
from swsctl.client import ApiClient
from swsctl.errors import NotFound, ServerError, Unreachable, WaitFailed, WaitTimedOut

Observer = Callable[[dict], None]

# A wait lasts minutes and the apiserver may restart meanwhile (an upgrade, a proxy roll):
# a few failed looks in a row are tolerated, more mean the API is really gone.
TOLERATED_FAILED_LOOKS = 3

RUNNING, FAILED, DELETING, PENDING, STOPPED = (
    ServiceStatus.RUNNING,
    ServiceStatus.FAILED,
    ServiceStatus.DELETING,
    ServiceStatus.PENDING,
    ServiceStatus.STOPPED,
)


@dataclass
class Follow:
    """How to follow: total time allowed, pause between looks, and who sees each look."""

    timeout: float = 120.0
    interval: float = 1.0
    observe: Observer = field(default=lambda service: None)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def look(self, client: ApiClient, name: str) -> dict | None:
        """GET the service, retrying transient failures; None once it is gone (404)."""
        failures = 0
        while True:
            try:
                return client.get_service(name)
            except NotFound:
                return None
            except (Unreachable, ServerError):
                failures += 1
                if failures >= TOLERATED_FAILED_LOOKS:
                    raise
                self.sleep(self.interval)


def apply_state(service: dict, generation: int) -> str:
    """running, failed, deleting, stopped or pending for the generation we applied.

    Running needs the agent to have applied our generation (or a later one): a `running`
    left over from the previous generation says nothing about ours.
    """
    status = service.get("status")
    if status == FAILED:
        return FAILED
    if service.get("stopped") or status == STOPPED:
        return STOPPED
    if status == DELETING:
        return DELETING
    if status == RUNNING and (service.get("applied_generation") or 0) >= generation:
        return RUNNING
    return PENDING


def until_running(client: ApiClient, name: str, generation: int, follow: Follow) -> dict:
    """Poll until our generation runs; raise WaitFailed or WaitTimedOut otherwise."""
    deadline = follow.clock() + follow.timeout
    while True:
        service = follow.look(client, name)
        if service is None:
            raise WaitFailed(f"service {name} was deleted while waiting for it to run")
        follow.observe(service)
        state = apply_state(service, generation)
        if state == RUNNING:
            return service
        if state == FAILED:
            raise WaitFailed(_failure(service), service)
        if state == DELETING:
            raise WaitFailed(f"service {name} is being deleted, so it will not run", service)
        if state == STOPPED:
            raise WaitFailed(
                f"service {name} is stopped, so it will not run; start it with "
                f"`swsctl start {name}`",
                service,
            )
        _pause_or_give_up(follow, deadline, f"service {name} is not running yet", service)


def until_gone(client: ApiClient, name: str, follow: Follow) -> None:
    """Poll until the API no longer knows the service (the agent removed it)."""
    deadline = follow.clock() + follow.timeout
    while True:
        service = follow.look(client, name)
        if service is None:
            return
        follow.observe(service)
        if service.get("status") == FAILED:
            raise WaitFailed(_failure(service, doing="removing"), service)
        _pause_or_give_up(follow, deadline, f"service {name} is not removed yet", service)


def _pause_or_give_up(follow: Follow, deadline: float, what: str, service: dict) -> None:
    remaining = deadline - follow.clock()
    if remaining <= 0:
        last = f"status {service.get('status')}"
        if service.get("message"):
            last += f": {service['message']}"
        raise WaitTimedOut(
            f"{what} after {follow.timeout:g}s ({last}). The agent may still act on it: "
            f"follow it with `swsctl get {service.get('name')}`, or wait longer with --timeout."
        )
    follow.sleep(min(follow.interval, remaining))


def _failure(service: dict, doing: str = "running") -> str:
    message = service.get("message") or "no message from the agent"
    text = f"the agent failed {doing} service {service.get('name')}: {message}"
    if service.get("last_log"):
        text += f"\n  last log line: {service['last_log']}"
    return text


def changes(
    client: ApiClient, interval: float, sleep: Callable[[float], None] = time.sleep
) -> Iterator[list[dict]]:
    """The service list now, then again each time it differs from the last one shown.

    Transient failures are retried like a wait's looks; the watch goes on until the caller
    stops iterating (Ctrl-C).
    """
    shown = None
    failures = 0
    while True:
        try:
            services = client.list_services()
            failures = 0
        except (Unreachable, ServerError):
            failures += 1
            if failures >= TOLERATED_FAILED_LOOKS:
                raise
            sleep(interval)
            continue
        if services != shown:
            shown = services
            yield services
        sleep(interval)
