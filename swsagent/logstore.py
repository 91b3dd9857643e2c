"""Where the log shipper's lines land: one writer thread batches them into service_logs, trims
each service to its last lines and keeps services.last_log fresh (logship.py follows)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import psycopg2
import psycopg2.extras

from swsagent import store
from swsagent.loglines import END, LogLine

# The shipper's logger: the writer is part of the shipper, and its warnings say so.
log = logging.getLogger("sws.agent.logship")

# last_log is a glance, not a log: the API and `swsctl get` show this much of the last line.
LAST_LOG_CHARS = 500


@dataclass(frozen=True)
class ShipperSettings:
    database_url: str
    label_prefix: str = "sws"
    lines_kept: int = 2000  # per service; older lines are deleted
    line_max_bytes: int = 4096  # longer lines are cut and marked
    batch_lines: int = 2000  # the most lines one INSERT carries
    flush_seconds: float = 0.3  # how long the writer gathers lines before it writes
    discover_seconds: float = 1.0  # how often the container list is read
    status_seconds: float = 2.0  # how often restart counts are read
    queue_lines: int = 10_000  # lines in memory at most; followers wait when it is full
    docker_socket: str | None = None
    # A job run's output kept in the store at most (issue 26); past it, one line says so.
    job_output_bytes: int = 16 * 1024 * 1024


class StoreWriter:
    """Batches lines into service_logs, trims each service, refreshes services.last_log."""

    def __init__(self, settings: ShipperSettings, lines: queue.Queue, stop: threading.Event):
        self.settings = settings
        self.lines = lines
        self.stop = stop
        self.conn = None
        self.since_trim: dict[int, int] = {}
        # Trim a service once this many lines arrived since its last trim: a DELETE per batch
        # would cost more than the lines; the buffer holds at most lines_kept + this.
        self.trim_every = max(50, settings.lines_kept // 10)

    def run(self) -> None:
        pending: list[LogLine] = []
        refused = 0
        while True:
            stopping = self.stop.is_set()
            pending += self._gather(len(pending))
            try:
                self.write(pending)
                pending, refused = [], 0
            except psycopg2.Error as err:
                log.warning("logship: cannot write lines: %s", str(err).strip()[:300])
                self._close()
                if not isinstance(err, (psycopg2.OperationalError, psycopg2.InterfaceError)):
                    # Not the store being away: a batch refused again and again (a service
                    # deleted while it was written is retried once) must not stop the rest.
                    refused += 1
                    if refused >= 3:
                        log.warning("logship: dropped %d lines the store refused", len(pending))
                        pending, refused = [], 0
                if stopping:
                    return
                self.stop.wait(2)
            if stopping and self.lines.empty():
                return

    def _gather(self, have: int) -> list[LogLine]:
        """Up to batch_lines lines: wait for the first, then gather for flush_seconds."""
        room = self.settings.batch_lines - have
        if room <= 0:
            return []
        batch: list[LogLine] = []
        try:
            batch.append(self.lines.get(timeout=1.0))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.settings.flush_seconds
        while len(batch) < room:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.lines.get(timeout=max(0.0, remaining)))
            except queue.Empty:
                break
        return batch

    def _db(self):
        if self.conn is None or self.conn.closed:
            self.conn = store.connect(self.settings.database_url, "sws-agent logship writer")
        return self.conn

    def _close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def write(self, batch: list[LogLine]) -> None:
        runs = [line for line in batch if line.run_id is not None]
        batch = [line for line in batch if line.run_id is None]
        conn = self._db()
        with conn.cursor() as cur:
            if runs:
                insert_run_lines(cur, runs)
            if batch:
                insert_lines(cur, batch)
            touched = sorted({line.service_id for line in batch})
            refresh_last_log(cur, touched)
            for service_id in touched:
                count = self.since_trim.get(service_id, 0) + sum(
                    1 for line in batch if line.service_id == service_id
                )
                if count >= self.trim_every:
                    trim(cur, service_id, self.settings.lines_kept)
                    count = 0
                self.since_trim[service_id] = count
        conn.commit()


def insert_lines(cur, batch: list[LogLine]) -> None:
    # The join drops the lines of a service whose record went meanwhile (deleted: its lines
    # must not reach a user who reuses the name).
    psycopg2.extras.execute_values(
        cur,
        # ORDER BY n: ids are the API's cursor and must follow the order the lines came in.
        """INSERT INTO service_logs (service_id, generation, container, ts, stream, line)
           SELECT v.service_id, v.generation, v.container, v.ts, v.stream, v.line
           FROM (VALUES %s) AS v(n, service_id, generation, container, ts, stream, line)
           JOIN services s ON s.id = v.service_id
           ORDER BY v.n""",
        [
            (n, x.service_id, x.generation, x.container, x.ts, x.stream, x.line)
            for n, x in enumerate(batch)
        ],
        template="(%s, %s::integer, %s::integer, %s, %s::timestamptz, %s, %s)",
        page_size=len(batch),
    )


def insert_run_lines(cur, batch: list[LogLine]) -> None:
    """A job run's lines (job_run_lines), and the marks of runs read to their end (END)."""
    lines = [x for x in batch if x.stream != END]
    if lines:
        # The join drops the lines of a run whose service (and so the run) went meanwhile.
        psycopg2.extras.execute_values(
            cur,
            """INSERT INTO job_run_lines (run_id, ts, stream, line)
               SELECT v.run_id, v.ts, v.stream, v.line
               FROM (VALUES %s) AS v(n, run_id, ts, stream, line)
               JOIN job_runs r ON r.id = v.run_id
               ORDER BY v.n""",
            [(n, x.run_id, x.ts, x.stream, x.line) for n, x in enumerate(lines)],
            template="(%s, %s::bigint, %s::timestamptz, %s, %s)",
            page_size=len(lines),
        )
    ended = sorted({x.run_id for x in batch if x.stream == END})
    if ended:
        cur.execute("UPDATE job_runs SET output_done = true WHERE id = ANY(%s)", (ended,))


def refresh_last_log(cur, touched: list[int]) -> None:
    """last_log: the newest line of the service's newest generation that printed any.

    Also for services whose last_log is empty: the agent clears it when a generation starts
    running, and a quiet service must get its line back without printing a new one.
    """
    cur.execute(
        """UPDATE services s SET last_log = l.line
           FROM (SELECT t.id, (SELECT left(line, %s) FROM service_logs
                               WHERE service_id = t.id
                               ORDER BY generation DESC, id DESC LIMIT 1) AS line
                 FROM services t WHERE t.id = ANY(%s) OR t.last_log IS NULL) l
           WHERE s.id = l.id AND l.line IS NOT NULL AND s.last_log IS DISTINCT FROM l.line""",
        (LAST_LOG_CHARS, touched),
    )


def trim(cur, service_id: int, keep: int) -> None:
    cur.execute(
        """DELETE FROM service_logs WHERE service_id = %s AND id <= (
               SELECT id FROM service_logs WHERE service_id = %s
               ORDER BY id DESC OFFSET %s LIMIT 1)""",
        (service_id, service_id, keep),
    )
