"""The log shipper (`sws-agent logship`): follows every SWS service container's output and
keeps the last lines of each service in the store (service_logs), where the API reads them.

It runs on the host beside the agent, as its own long-lived process: the apiserver never gets
the Docker socket nor Docker's container directories (they hold every tenant's env). One
thread follows each container through the engine's API; one writer thread (logstore.py)
batches the lines into the store, trims each service to its last `lines_kept` lines and keeps
services.last_log fresh; the main loop finds new containers every second (an update's next
generation is followed within a second of its start) and records each service's restart count.
"""

from __future__ import annotations

import fcntl
import http.client
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import psycopg2.extras

from swsagent import replicacount, store
from swsagent.dockerapi import DockerApi, DockerError
from swsagent.loglines import (
    END,
    TIMESTAMP_ROOM,
    LineSplitter,
    LogLine,
    ShippedMark,
    cap,
    docker_since,
    parse_timestamped,
)
from swsagent.logstore import ShipperSettings, StoreWriter

log = logging.getLogger("sws.agent.logship")


@dataclass
class Follower:
    """One container followed by one thread."""

    container_id: str
    name: str
    service_id: int
    generation: int
    thread: threading.Thread | None = None
    shipped: ShippedMark = field(default_factory=ShippedMark)  # a restart resumes after it
    # The StartedAt of the run whose output was read to its end after the container stopped;
    # it is followed again only when it runs again (restart policies start it again and again).
    drained_run: str | None = None
    run_id: int | None = None  # a job run's container (issue 26)
    shipped_bytes: int = 0  # of a job run: its output stops being shipped past the cap
    ended: bool = False  # of a job run: read to its end (a broken read is taken up again)


@dataclass
class Shipper:
    settings: ShipperSettings
    docker: DockerApi = field(default=None)  # type: ignore[assignment]
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self.docker = self.docker or DockerApi(self.settings.docker_socket)
        self.lines: queue.Queue[LogLine] = queue.Queue(maxsize=self.settings.queue_lines)
        self.followers: dict[str, Follower] = {}
        self.writer = StoreWriter(self.settings, self.lines, self.stop)
        self.conn = None

    # --- the main loop ---------------------------------------------------------------------
    def run(self) -> None:
        writer = threading.Thread(target=self.writer.run, name="logship-writer", daemon=True)
        writer.start()
        next_status = 0.0
        while not self.stop.is_set():
            try:
                containers = self.discover()
                if time.monotonic() >= next_status:
                    self.record_restarts(containers)
                    next_status = time.monotonic() + self.settings.status_seconds
            except (DockerError, psycopg2.Error) as err:
                log.warning("logship: %s", str(err).strip()[:300])
                self._close()
            self.stop.wait(self.settings.discover_seconds)
        self.docker.close_streams()
        for follower in list(self.followers.values()):
            if follower.thread is not None:
                follower.thread.join(timeout=5)
        writer.join(timeout=10)
        self._close()

    def _db(self):
        if self.conn is None or self.conn.closed:
            self.conn = store.connect(self.settings.database_url, "sws-agent logship")
            self.conn.autocommit = True
        return self.conn

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def discover(self) -> list[dict]:
        """Follow every labelled container not followed yet (or running again)."""
        label = f"{self.settings.label_prefix}.service"
        containers = self.docker.containers(label)
        services = self._service_ids({c["Labels"].get(label, "") for c in containers})
        for container in containers:
            follower = self.followers.get(container["Id"])
            if follower is None:
                follower = self._new_follower(container, services)
                if follower is None:
                    continue
            alive = follower.thread is not None and follower.thread.is_alive()
            if not alive and self._has_news(follower, container):
                self._start(follower)
        runs = self.docker.containers(f"{self.settings.label_prefix}.job-run")
        for container in runs:
            follower = self.followers.get(container["Id"])
            if follower is None:
                self._follow_run(container)
            elif not follower.ended and not follower.thread.is_alive():
                self._start(follower)  # its read broke (an engine restart): from where it was
        present = {c["Id"] for c in containers} | {c["Id"] for c in runs}
        for gone in set(self.followers) - present:
            del self.followers[gone]
        return containers

    def _follow_run(self, container: dict) -> None:
        """A job run's container (issue 26): followed once, from its start to its end."""
        labels = container.get("Labels") or {}
        prefix = self.settings.label_prefix
        try:
            run_id = int(labels.get(f"{prefix}.job-run", ""))
        except ValueError:
            return
        with self._db().cursor() as cur:
            cur.execute("SELECT service_id, output_done FROM job_runs WHERE id = %s", (run_id,))
            row = cur.fetchone()
        if row is None or row[1]:
            return  # not in the store (its service went), or read to its end already
        name = ((container.get("Names") or ["/?"])[0]).lstrip("/")
        follower = Follower(container["Id"], name, row[0], 0, run_id=run_id)
        # Never followed again: a restarted shipper reads a run's output from its start
        # only if the store has none of it (its lines would be shipped twice otherwise).
        follower.drained_run = "once"
        self.followers[container["Id"]] = follower
        self._start(follower)

    def _service_ids(self, names: set[str]) -> dict[str, int]:
        names.discard("")
        if not names:
            return {}
        with self._db().cursor() as cur:
            cur.execute("SELECT name, id FROM services WHERE name = ANY(%s)", (sorted(names),))
            return dict(cur.fetchall())

    def _new_follower(self, container: dict, services: dict[str, int]) -> Follower | None:
        labels = container.get("Labels") or {}
        prefix = self.settings.label_prefix
        service_id = services.get(labels.get(f"{prefix}.service", ""))
        if service_id is None:
            return None  # not in the store (yet, or any more): nobody may read its lines
        try:
            generation = int(labels.get(f"{prefix}.generation", "0"))
        except ValueError:
            generation = 0
        name = ((container.get("Names") or ["/?"])[0]).lstrip("/")
        follower = Follower(container["Id"], name, service_id, generation)
        with self._db().cursor() as cur:
            cur.execute(
                """SELECT ts, stream, line FROM service_logs l
                   WHERE service_id = %(s)s AND container = %(c)s AND ts = (
                       SELECT max(ts) FROM service_logs
                       WHERE service_id = %(s)s AND container = %(c)s)""",
                {"s": service_id, "c": name},
            )
            for ts, stream, line in cur.fetchall():
                follower.shipped.ship(ts, stream, line)
        self.followers[container["Id"]] = follower
        return follower

    def _has_news(self, follower: Follower, container: dict) -> bool:
        if container.get("State") in ("running", "restarting") or follower.drained_run is None:
            return True
        try:
            return started_at(self.docker.inspect(follower.container_id)) != follower.drained_run
        except DockerError:
            return False  # removed meanwhile

    def _start(self, follower: Follower) -> None:
        follower.drained_run = None
        follower.thread = threading.Thread(
            target=self._follow,
            args=(follower,),
            name=f"logship-{follower.name}",
            daemon=True,
        )
        follower.thread.start()

    def _follow(self, follower: Follower) -> None:
        try:
            detail = self.docker.inspect(follower.container_id)
            tty = bool((detail.get("Config") or {}).get("Tty"))
            if not self._read(follower, tty, follow=True):
                return
            after = self.docker.inspect(follower.container_id)
            if (after.get("State") or {}).get("Running"):
                return  # the stream ended before the run did: discover takes it up again
            # The engine (20.10) ends a follow soon after the container stops, even when the
            # reader is behind (a run's megabytes on a busy host): what it left out is read
            # now that nothing more is written.
            if not self._read(follower, tty, follow=False):
                return
            if follower.run_id is not None:
                self._put(
                    LogLine(follower.service_id, 0, follower.name, _now(), END, "", follower.run_id)
                )
                follower.ended = True
            elif started_at(after) == started_at(detail):
                # Read to the end: the run that was there when we began is the last one and
                # it is over, so there is nothing more until the container starts again.
                follower.drained_run = started_at(after)
        except DockerError as err:
            if "marked for removal" not in str(err):  # removed meanwhile: nothing to read
                log.info("logship: %s: %s", follower.name, str(err).strip()[:200])
        except (OSError, http.client.HTTPException) as err:
            # An engine restart, or close_streams at the shipper's end.
            log.info("logship: %s: the log stream broke: %r", follower.name, err)

    def _read(self, follower: Follower, tty: bool, follow: bool) -> bool:
        """Ship the container's output after what was shipped; False if the shipper stops.

        A line cut off where a stream ended is not shipped: the next read has it whole."""
        follower.shipped.begin_read()
        last = follower.shipped.last_ts
        since = docker_since(last) if last else None
        splitters: dict[str, LineSplitter] = {}
        for stream, chunk in self.docker.follow_logs(follower.container_id, since, tty, follow):
            splitter = splitters.setdefault(
                stream, LineSplitter(self.settings.line_max_bytes + TIMESTAMP_ROOM)
            )
            for raw in splitter.feed(chunk):
                self._ship(follower, stream, raw)
            if self.stop.is_set():
                return False
        if not follow:
            # All there is: a last line without its newline is a line.
            for stream, splitter in splitters.items():
                for raw in splitter.flush():
                    self._ship(follower, stream, raw)
        return True

    def _ship(self, follower: Follower, stream: str, raw: bytes) -> None:
        ts, text = parse_timestamped(raw)
        text = cap(text, self.settings.line_max_bytes)
        if ts is None:
            ts = datetime.now(UTC)
        if not follower.shipped.ship(ts, stream, text):
            return  # shipped before this read began
        if follower.run_id is not None and not self._within_cap(follower, text):
            return
        line = LogLine(
            follower.service_id,
            follower.generation,
            follower.name,
            ts,
            stream,
            text,
            follower.run_id,
        )
        self._put(line)

    def _within_cap(self, follower: Follower, text: str) -> bool:
        """A run's output is shipped up to job_output_bytes, then one line says it was cut."""
        cap_bytes = self.settings.job_output_bytes
        before = follower.shipped_bytes
        follower.shipped_bytes += len(text) + 1
        if follower.shipped_bytes <= cap_bytes:
            return True
        if before <= cap_bytes:
            note = f"[sws: output past {cap_bytes} bytes is not kept; the run goes on]"
            self._put(
                LogLine(
                    follower.service_id, 0, follower.name, _now(), "stderr", note, follower.run_id
                )
            )
        return False

    def _put(self, line: LogLine) -> None:
        while not self.stop.is_set():
            try:
                self.lines.put(line, timeout=1)
                return
            except queue.Full:
                continue  # the store is slow or away: wait (Docker keeps the output meanwhile)

    def record_restarts(self, containers: list[dict]) -> None:
        """Each service's restart count: that of its newest running container; and how many
        containers of its serving generation run (issue 28: running/desired)."""
        label = f"{self.settings.label_prefix}.service"
        generation = f"{self.settings.label_prefix}.generation"
        seen = (
            (c["Labels"].get(label, ""), _generation(c["Labels"].get(generation)), c["State"])
            for c in containers
        )
        counts = replicacount.running_counts((s, g, state == "running") for s, g, state in seen)
        replicacount.record(self._db(), counts)
        newest: dict[str, Follower] = {}
        for container in containers:
            follower = self.followers.get(container["Id"])
            if follower is None or container.get("State") not in ("running", "restarting"):
                continue
            service = container["Labels"].get(label, "")
            if service not in newest or newest[service].generation < follower.generation:
                newest[service] = follower
        counts = []
        for follower in newest.values():
            try:
                detail = self.docker.inspect(follower.container_id)
            except DockerError:
                continue  # removed meanwhile
            counts.append((int(detail.get("RestartCount") or 0), follower.service_id))
        if counts:
            with self._db().cursor() as cur:
                psycopg2.extras.execute_values(
                    cur,
                    """UPDATE services s SET restart_count = v.count
                       FROM (VALUES %s) AS v(count, id)
                       WHERE s.id = v.id AND s.restart_count <> v.count""",
                    counts,
                )


def _generation(label: str | None) -> int:
    try:
        return int(label or "")
    except ValueError:
        return -1


def _now() -> datetime:
    return datetime.now(UTC)


def started_at(detail: dict) -> str | None:
    return (detail.get("State") or {}).get("StartedAt")


class AlreadyRunning(RuntimeError):
    """Another shipper holds the lock file."""


def hold_lock(path: Path):
    """One shipper per host: an exclusive flock on a file that also holds its pid.

    Cron starts the shipper every minute; a second one exits at once. The pid lets teardown
    stop exactly this process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(f"another log shipper holds {path}") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def run_shipper(settings: ShipperSettings, stop_on: Callable[[threading.Event], None]) -> None:
    shipper = Shipper(settings)
    stop_on(shipper.stop)
    log.info("logship: following containers labelled %s.service", settings.label_prefix)
    shipper.run()
