"""sws-agent watch: LISTEN on sws_services and reconcile as soon as a change is committed.

Changes are debounced (a burst of applies makes one pass), and a full pass runs every
full_pass_interval seconds anyway, the safety net for anything a notification missed. While
containers stop in the background (a delete, a retired generation), the watcher looks at the
engine every quarter second, without a pass, and runs one as soon as one of them is gone: a
deleted service's record goes then. With the swarm executor, it asks the manager every few
seconds whether a task moved (swarm/taskwatch.py) and runs a pass when one did.
"""

from __future__ import annotations

import json
import logging
import math
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from swsagent import collection, store
from swsagent.config import AgentConfig
from swsagent.swarm.taskwatch import TaskWatch
from swscore.channel import NOTIFY_CHANNEL

log = logging.getLogger("sws.agent")

MAX_DEBOUNCE = 2.0  # a steady stream of changes still gets a pass this often
STOP_POLL = 0.25  # how often the engine is asked whether a background stop ended


@dataclass(frozen=True)
class After:
    """What a pass leaves for the watcher: work queued for the next pass (the per-user share),
    and the containers still stopping in the background."""

    queued: bool = False
    stopping: frozenset[str] = field(default_factory=frozenset)
    jobs_wake: float | None = None  # seconds until the jobs step wants to run again


def code_stamp(config: AgentConfig) -> tuple:
    """What changes when the bootstrap installs new agent code: the venv's source hash file and
    the project copy (replaced whole). A watching agent exits when it changes, and cron starts
    the new code."""
    stamp = []
    for path in (Path(sys.prefix) / ".sws-source-hash", Path(config.project_dir)):
        try:
            st = path.stat()
            stamp.append((st.st_ino, st.st_mtime_ns))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def watch(
    config: AgentConfig,
    one_pass: Callable[[], After],
    stop: Callable[[], bool],
    jobs_pass: Callable[[], float | None] | None = None,
) -> None:
    """Run passes until stop() says so; reconnect when the store goes away. jobs_pass: the
    jobs step alone (issue 26), run when a run is asked for or stopped, while runs go on and
    as a scheduled minute begins; it returns when it wants to run again."""
    while not stop():
        try:
            _listen_loop(config, one_pass, stop, jobs_pass)
        except psycopg2.OperationalError as err:
            log.warning("store connection lost (%s); reconnecting in 2 s", str(err).strip())
            time.sleep(2)


def _listen_loop(config: AgentConfig, one_pass, stop, jobs_pass=None) -> None:
    conn = store.connect(config.database_url, "sws-agent watch", config.store_timeout)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
        log.info(
            "watching channel %s; full pass every %gs", NOTIFY_CHANNEL, config.full_pass_interval
        )
        next_full = 0.0  # a pass right away: changes made while no agent listened
        next_jobs = math.inf
        stopping: frozenset[str] = frozenset()
        tasks = _task_watch(config)
        while not stop():
            wait = max(0.0, min(next_full, next_jobs) - time.monotonic())
            if tasks is not None:
                wait = min(wait, tasks.due_in())
            events = _wait_for_change(conn, min(wait, STOP_POLL if stopping else 1.0))
            if jobs_pass and (events == {"job"} or (not events and time.monotonic() >= next_jobs)):
                # A run asked for or stopped, or one going on: the jobs step alone, at once.
                next_jobs = _after_jobs(jobs_pass())
                continue
            if events:
                _debounce(conn, config.debounce)
            elif stopping and stopping_ended(stopping, config.names.label_prefix):
                pass  # a container that was stopping is gone: the pass forgets what it held
            elif tasks is not None and tasks.changed():
                pass  # the swarm moved a task: its route follows now
            elif time.monotonic() < next_full:
                continue
            after = one_pass()
            if tasks is not None:
                tasks.seen()
            stopping = after.stopping
            next_jobs = _after_jobs(after.jobs_wake)
            # Services queued by the per-user share go in the next pass, right away.
            next_full = time.monotonic() + (0.0 if after.queued else config.full_pass_interval)
    finally:
        conn.close()


def _task_watch(config: AgentConfig) -> TaskWatch | None:
    if not config.swarm_executor:
        return None
    return TaskWatch(config.swarm.manager_socket, config.names.label_prefix)


def stopping_ended(stopping: frozenset[str], prefix: str) -> bool:
    """Whether any of these containers stopped running (one Engine API listing)."""
    engine = collection.engine()
    try:
        running = engine.Engine().containers(f"{prefix}.service", all_states=False)
    except engine.EngineError:
        return False  # the engine is away: the periodic pass will see
    names = {n.lstrip("/") for c in running for n in c.get("Names") or []}
    return not stopping <= names


def _after_jobs(wake: float | None) -> float:
    return math.inf if wake is None else time.monotonic() + wake


def _wait_for_change(conn, timeout: float) -> set[str]:
    """The events notified within timeout (apply, delete, job); empty when none came."""
    readable, _, _ = select.select([conn], [], [], timeout)
    if not readable:
        return set()
    conn.poll()
    events = {_event(n.payload) for n in conn.notifies}
    conn.notifies.clear()
    return events


def _event(payload: str) -> str:
    try:
        return str(json.loads(payload).get("event", "change"))
    except (ValueError, AttributeError):
        return "change"


def _debounce(conn, quiet: float) -> None:
    """Wait until no change arrived for `quiet` seconds (at most MAX_DEBOUNCE in all)."""
    deadline = time.monotonic() + MAX_DEBOUNCE
    while time.monotonic() < deadline:
        if not _wait_for_change(conn, min(quiet, deadline - time.monotonic())):
            return
