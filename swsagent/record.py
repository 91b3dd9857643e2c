"""Write a pass's outcomes back to the store: service status, message and last log line,
deleted services' records, and the bounded journal of passes (agent_passes).

Every update names the generation it is about, so an apply that lands while the pass runs
is never overwritten by news about the generation before it.
"""

from __future__ import annotations

import json

from swscore.contract import ServiceStatus as S


def mark_running(conn, name: str, generation: int, replicas: int = 1) -> None:
    # The generation's domain now serves: it becomes served_domain, which releases the domain
    # an earlier generation served (the store kept it reserved to this service until now).
    # Every replica got ready (issue 28): replicas_running is the generation's count.
    _update(
        conn,
        f"""UPDATE services SET status = '{S.RUNNING}', applied_generation = %s, message = NULL,
               last_log = NULL, served_domain = domain, replicas_running = %s,
               updated_at = now()
           WHERE name = %s AND generation = %s AND status <> '{S.DELETING}' AND NOT stopped""",
        (generation, replicas, name, generation),
    )


def mark_stopped(conn, name: str) -> None:
    """Stopped by its user and nothing of it runs any more (its spec, volume and history stay)."""
    _update(
        conn,
        f"""UPDATE services SET status = '{S.STOPPED}', message = NULL, updated_at = now()
           WHERE name = %s AND stopped AND status NOT IN ('{S.DELETING}', '{S.STOPPED}')""",
        (name,),
    )


def mark_stopping(conn, name: str, message: str) -> None:
    """Say where a stop is (a stack stops bottom-up; a stop runs in the background)."""
    _update(
        conn,
        f"""UPDATE services SET message = %s, updated_at = now()
           WHERE name = %s AND stopped AND status NOT IN ('{S.DELETING}', '{S.STOPPED}')
             AND message IS DISTINCT FROM %s""",
        (message, name, message),
    )


def mark_failed(conn, name: str, generation: int, message: str, last_log: str | None) -> None:
    _update(
        conn,
        f"""UPDATE services SET status = '{S.FAILED}', message = %s, last_log = %s,
               updated_at = now()
           WHERE name = %s AND generation = %s AND status <> '{S.DELETING}'""",
        (message, last_log, name, generation),
    )


def mark_deleting_problem(conn, name: str, message: str) -> None:
    """Say why a deleted service is still there (the next pass tries again)."""
    _update(
        conn,
        f"""UPDATE services SET message = %s, updated_at = now()
           WHERE name = %s AND status = '{S.DELETING}'""",
        (message, name),
    )


def forget(conn, name: str) -> bool:
    """Delete a removed service's record; only if it is still marked for deletion. A volume
    purged with it (or by an administrator) was removed too: its reservation goes as well;
    a volume kept by a delete without purge stays reserved to its owner."""
    with conn.cursor() as cur:
        cur.execute(
            f"""DELETE FROM services WHERE name = %s AND status = '{S.DELETING}'
               RETURNING purge_volume""",
            (name,),
        )
        row = cur.fetchone()
        cur.execute(
            "DELETE FROM volumes WHERE name = %s AND (purge_requested OR %s)",
            (f"{name}-volume", bool(row and row[0])),
        )
        deleted = row is not None or cur.rowcount > 0
    conn.commit()
    return deleted


def start_pass(conn) -> int:
    """Open this pass's record. A record still 'running' belongs to a pass that was killed
    (we hold the lock, so no other pass runs): close it as interrupted."""
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE agent_passes SET outcome = 'interrupted', finished_at = now()
               WHERE outcome = 'running'"""
        )
        cur.execute(
            "INSERT INTO agent_passes (started_at, outcome) VALUES (now(), 'running') RETURNING id"
        )
        pass_id = cur.fetchone()[0]
    conn.commit()
    return pass_id


def finish_pass(conn, pass_id: int, outcome: str, changed: dict, message: str, keep: int) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE agent_passes SET finished_at = now(), outcome = %s, changed = %s,
                   message = %s WHERE id = %s""",
            (outcome, json.dumps(changed), message, pass_id),
        )
        cur.execute(
            """DELETE FROM agent_passes WHERE id <= (
                   SELECT id FROM agent_passes ORDER BY id DESC OFFSET %s LIMIT 1)""",
            (keep,),
        )
    conn.commit()


def _update(conn, sql: str, params: tuple) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, params)
    conn.commit()


def mark_pending_reason(conn, name: str, generation: int, message: str) -> None:
    """Say why a service is still pending (its generation is deployed, or was attempted)."""
    _update(
        conn,
        f"""UPDATE services SET message = %s, updated_at = now()
           WHERE name = %s AND generation = %s AND status = '{S.PENDING}'""",
        (message, name, generation),
    )
