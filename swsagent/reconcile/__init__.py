"""One reconcile pass, one way: observe -> plan -> check -> run -> record.

Each stage takes what the one before returned and never calls back into it:

- observe (observe.py): the store, the engine, the proxies, HAProxy, the agent's state files;
  reads only.
- plan (plan.py): pure; which services deploy, what the control plane needs, the routes as if
  every new generation got ready.
- check (check.py): nginx must accept those routes; what it refuses is left out. The plan's
  final shape: who deploys, which proxies roll, what is retired.
- run (run.py): every change to the host: the control plane started again, the certificates
  installed, then one ansible-runner run (recreate, deploy, roll, retire) of the hosts
  concerned; nothing runs at all when there is nothing to do.
- record (record.py): the store writes, the plan's verdicts before the run and its outcomes
  after, and the agent's state files.

A pass killed anywhere is repaired by the next, which sees the same gaps. Before each stage
that changes something (and as each play starts) the pass checks its deadline and its lock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import psycopg2

from swsagent import collection
from swsagent import record as journal
from swsagent.config import AgentConfig
from swsagent.reconcile.check import check_pass
from swsagent.reconcile.observe import observe
from swsagent.reconcile.plan import plan_pass
from swsagent.reconcile.record import after_run, before_run, health_due
from swsagent.reconcile.report import Guard, PassAborted, PassReport
from swsagent.reconcile.run import proxyroll_digest, run_pass
from swsagent.runner import remove_stale_runs

__all__ = ["PassReport", "health_due", "proxyroll_digest", "reconcile_once"]

log = logging.getLogger("sws.agent")


def reconcile_once(
    config: AgentConfig, conn, still_locked: Callable[[], None] | None = None
) -> PassReport:
    """One pass, under the caller's lock; conn is a psycopg2 connection (not autocommit).

    still_locked raises LockLost when the caller's lock is gone (checked between stages).
    """
    started = time.monotonic()
    collection.use(config.project_dir)
    guard = Guard(config.pass_timeout, still_locked)
    pass_id = journal.start_pass(conn)
    report = PassReport()
    report.note("stale_runs_removed", remove_stale_runs(config.state_dir))
    try:
        _stages(config, conn, report, guard)
    except PassAborted as err:
        report.outcome = "aborted"
        report.problems.append(str(err))
        _rollback(conn)
    except Exception as err:
        report.outcome = "failed"
        report.problems.append(f"{type(err).__name__}: {err}")
        _rollback(conn)
        raise
    finally:
        report.seconds = time.monotonic() - started
        _journal(config, conn, pass_id, report)
    return report


def _stages(config: AgentConfig, conn, report: PassReport, guard: Guard) -> None:
    seen = observe(config, conn)
    plan = plan_pass(config, seen)
    checked = check_pass(config, plan, report)
    guard.check("recording the plan")
    before_run(config, conn, checked, report)
    outcome = run_pass(config, checked, guard)
    guard.check("recording the outcomes")
    after_run(config, conn, checked, outcome, report)


def _journal(config: AgentConfig, conn, pass_id: int, report: PassReport) -> None:
    try:
        journal.finish_pass(
            conn,
            pass_id,
            report.outcome,
            report.changed,
            "; ".join([*report.problems, *report.notices]),
            config.passes_kept,
        )
    except psycopg2.Error as err:
        # The store is gone: the next pass closes this record as interrupted.
        report.problems.append(f"could not record the pass: {str(err).strip()}")
    log.info("pass %d %s", pass_id, report.summary())


def _rollback(conn) -> None:
    with contextlib.suppress(psycopg2.Error):
        conn.rollback()
