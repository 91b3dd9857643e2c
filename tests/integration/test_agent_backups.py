"""The backups step (issue 27) on a real store and a real Docker engine: a volume copied by the
helper container, wiped, restored from the kept backup and from an upload, byte for byte (files,
modes, owners, a symlink); a recreate service is held for the copy (desired reads it stopped);
a broken upload fails with the volume untouched; a purge's rows take their files with them.
Volumes are `wtbak-*` and go in a finally."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import psycopg2
import pytest

from swsagent.backuppass import backups_step
from swsagent.config import config_from_mapping
from swsagent.desired import read_desired
from tests.fixtures.apiserver import migrated_app
from tests.fixtures.store import Store
from tests.integration.test_agent_pass import LABELS, REPO, engine_lock  # noqa: F401

IMAGE = "sws-local/python:3.11-1"
# A listing of every path with its type, mode, owner and content's digest: equal listings,
# equal volumes.
LISTING = (
    "cd /data && find . -printf '%p %y %m %U:%G %l\\n' | sort && "
    "find . -type f -print0 | sort -z | xargs -0 sha256sum"
)
FILL = (
    "mkdir -p /data/pgdata/base && head -c 3000000 /dev/urandom > /data/pgdata/base/1 && "
    "echo rows > /data/pgdata/PG_VERSION && chown -R 999:999 /data/pgdata && "
    "chmod 700 /data/pgdata && ln -s pgdata/PG_VERSION /data/link && "
    "printf 'x%.0s' $(seq 1 1000) > '/data/a name with spaces'"
)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def in_volume(volume: str, script: str) -> str:
    return docker("run", "--rm", "-v", f"{volume}:/data", IMAGE, "bash", "-c", script)


@pytest.fixture
def service(database_url, engine_lock):  # noqa: F811
    name = "wtbak-" + uuid.uuid4().hex[:6]
    store = Store(migrated_app(database_url), database_url, owns_app=True)
    store.create_user("alice")
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": IMAGE}
    store.apply("alice", {**spec, "volumeMount": "/data"})
    docker("volume", "create", f"{name}-volume")
    try:
        in_volume(f"{name}-volume", FILL)
        yield name
    finally:
        for kind in ("backup", "restore"):
            for cid in docker("ps", "-aq", "--filter", f"label={LABELS}.{kind}").split():
                subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{name}-volume"], capture_output=True)
        store.close()


@pytest.fixture
def config(database_url, tmp_path):
    return config_from_mapping(
        {
            "database_url": database_url,
            "project_dir": str(REPO),
            "state_dir": str(tmp_path / "state"),
            "backups_dir": str(tmp_path / "backups"),
            "backup_spool_dir": str(tmp_path / "spool"),
            "backups_kept": 2,
            "backup_image": IMAGE,
            "names": {"proxies": [], "label_prefix": LABELS},
        }
    )


def sql(url: str, query: str, *params):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


def steps_until(config, url, table, op_id, states=("kept", "done", "failed"), sweep=False):
    conn = psycopg2.connect(url)
    try:
        for _ in range(240):
            backups_step(config, conn, sweep=sweep)
            (state, message), *_ = sql(
                url, f"SELECT state, message FROM {table} WHERE id = %s", op_id
            )
            if state in states:
                return state, message
            time.sleep(0.25)
    finally:
        conn.close()
    raise AssertionError(f"{table} {op_id} stayed {state}")


def ask_backup(url, name) -> int:
    return sql(
        url,
        """INSERT INTO backups (volume, owner_id, service, cause)
           SELECT %s, id, %s, 'user' FROM users WHERE name = 'alice' RETURNING id""",
        f"{name}-volume", name,
    )[0][0]  # fmt: skip


def ask_restore(url, name, backup_id=None, upload=None) -> int:
    return sql(
        url,
        """INSERT INTO restores (volume, owner_id, service, backup_id, upload)
           SELECT %s, id, %s, %s, %s FROM users WHERE name = 'alice' RETURNING id""",
        f"{name}-volume", name, backup_id, upload,
    )[0][0]  # fmt: skip


def test_backup_wipe_restore_round_trip(config, database_url, service, tmp_path):
    volume = f"{service}-volume"
    before = in_volume(volume, LISTING)
    backup_id = ask_backup(database_url, service)
    conn = psycopg2.connect(database_url)
    backups_step(config, conn)  # pending -> holding: a recreate service is held
    held = {s.name: s.stopped for s in read_desired(conn)}
    conn.close()
    assert held[service] is True
    # Its message says why it does not run (its status stays the user's), until the end.
    message = sql(database_url, "SELECT message FROM services WHERE name = %s", service)[0][0]
    assert message.startswith(f"held for backup {backup_id}: stopped while"), message
    assert steps_until(config, database_url, "backups", backup_id) == ("kept", None)
    assert sql(database_url, "SELECT message FROM services WHERE name = %s", service)[0][0] is None
    ((size, digest),) = sql(
        database_url, "SELECT size_bytes, sha256 FROM backups WHERE id = %s", backup_id
    )
    owner = sql(database_url, "SELECT id FROM users WHERE name = 'alice'")[0][0]
    kept = tmp_path / "backups" / str(owner) / service / f"{backup_id}.tar"
    assert kept.stat().st_size == size and len(digest) == 64
    assert sorted(p.name for p in kept.parent.iterdir()) == [kept.name]  # no partial left
    conn = psycopg2.connect(database_url)
    assert {s.name: s.stopped for s in read_desired(conn)}[service] is False  # hold ended
    conn.close()

    in_volume(volume, "rm -rf /data/* && echo stray > /data/stray")
    restore_id = ask_restore(database_url, service, backup_id=backup_id)
    assert steps_until(config, database_url, "restores", restore_id) == ("done", None)
    assert in_volume(volume, LISTING) == before

    # An upload: the same archive through the spool; then a broken one leaves the volume be.
    (tmp_path / "spool").mkdir()
    shutil.copy(kept, tmp_path / "spool" / "up.tar")
    in_volume(volume, "rm -rf /data/*")
    restore_id = ask_restore(database_url, service, upload="up.tar")
    assert steps_until(config, database_url, "restores", restore_id)[0] == "done"
    assert in_volume(volume, LISTING) == before
    assert not (tmp_path / "spool" / "up.tar").exists()
    (tmp_path / "spool" / "bad.tar.gz").write_bytes(b"\x1f\x8b" + b"not really" * 100)
    restore_id = ask_restore(database_url, service, upload="bad.tar.gz")
    state, message = steps_until(config, database_url, "restores", restore_id)
    assert state == "failed" and "exited with code" in message
    assert in_volume(volume, LISTING) == before


def test_retention_and_purge_remove_files(config, database_url, service, tmp_path):
    ids = []
    for _ in range(3):
        ids.append(ask_backup(database_url, service))
        assert steps_until(config, database_url, "backups", ids[-1])[0] == "kept"
    rows = sql(database_url, "SELECT id FROM backups ORDER BY id")
    assert [r[0] for r in rows] == ids[1:]  # backups_kept: 2
    owner = sql(database_url, "SELECT id FROM users WHERE name = 'alice'")[0][0]
    folder = tmp_path / "backups" / str(owner) / service
    assert sorted(p.name for p in folder.iterdir()) == [f"{i}.tar" for i in ids[1:]]
    # The pass forgets a purged volume's row (record.py); its backups go with it, files next.
    sql(database_url, "DELETE FROM volumes WHERE name = %s", f"{service}-volume")
    conn = psycopg2.connect(database_url)
    outcome = backups_step(config, conn, sweep=True)
    conn.close()
    assert len(outcome.removed) == 2 and not folder.exists()
