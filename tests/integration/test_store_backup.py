"""The store's daily dump and its restore (issue 27, bin/sws-store-backup and README "Backups
of the host") against the integration tier's real PostgreSQL: a migrated store with a user,
a service and a backup row is dumped, the newest KEEP dumps stay, a half-written dump never
looks whole, and pg_restore into an empty database brings back the same rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg2

from tests.fixtures.apiserver import migrated_app
from tests.fixtures.store import Store

SCRIPT = Path(__file__).resolve().parents[2] / "bin" / "sws-store-backup"


def rows(url: str) -> list:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            """SELECT u.name, s.name, s.spec, v.name, b.state, b.size_bytes
               FROM users u JOIN services s ON s.owner_id = u.id
               JOIN volumes v ON v.owner_id = u.id LEFT JOIN backups b ON b.volume = v.name
               ORDER BY 1, 2"""
        )
        return cur.fetchall()


def test_dump_keep_and_restore_round_trip(pg_server, database_url, tmp_path):
    store = Store(migrated_app(database_url), database_url, owns_app=True)
    store.create_user("alice")
    spec = {"name": "db", "port": 5432, "image": "sws-local/postgres:15-1", "volumeMount": "/d"}
    store.apply("alice", spec)
    store.close()
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO backups (volume, owner_id, service, cause, state, size_bytes)
               SELECT 'db-volume', id, 'db', 'user', 'kept', 1234 FROM users"""
        )
    before = rows(database_url)
    dump = [f"{pg_server.bindir}/pg_dump", "-Fc", "-d", database_url]
    folder = tmp_path / "store"
    made = []
    for _ in range(3):
        out = subprocess.run([str(SCRIPT), str(folder), "2", *dump], check=True,
                             capture_output=True, text=True)  # fmt: skip
        made.append(out.stdout.strip())
        os.utime(made[-1])  # the names differ by the second: wait for a new one
        subprocess.run(["sleep", "1.1"], check=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(m).name for m in made[1:])
    failing = subprocess.run([str(SCRIPT), str(folder), "2", "sh", "-c", "echo half; exit 1"])
    assert failing.returncode != 0
    assert not [p for p in folder.iterdir() if p.name.startswith(".partial")]

    target = pg_server.create_database("store_restored")
    try:
        subprocess.run(
            [f"{pg_server.bindir}/pg_restore", "--no-owner", "-d", target, made[-1]],
            check=True, capture_output=True,
        )  # fmt: skip
        assert rows(target) == before
    finally:
        pg_server.drop_database("store_restored")
