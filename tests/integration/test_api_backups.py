"""Backups through the API (issue 27) on a real PostgreSQL: only the owner lists, downloads
or restores a backup (another user gets 404, as for a missing one); a download streams the
file the agent kept, named from the store; an upload is spooled for the agent, with a size
limit; a purge takes the backups with the volume; a delete without purge keeps them. The
agent's part is played with its own SQL (its step is tests/integration/test_agent_backups.py)."""

from __future__ import annotations

import gzip
import io

import psycopg2
import pytest

from swsapi import auth
from swsapi.app import create_app
from tests.fixtures.apiserver import TestConfig, dispose

SPEC = {"name": "db", "port": 5432, "image": "sws-local/postgres:15-1", "volumeMount": "/data"}


@pytest.fixture
def app(migrated_database_url, tmp_path):
    (tmp_path / "backups").mkdir()
    (tmp_path / "spool").mkdir()
    config = TestConfig(
        migrated_database_url,
        SWS_BACKUPS_DIR=str(tmp_path / "backups"),
        SWS_BACKUP_SPOOL_DIR=str(tmp_path / "spool"),
        SWS_MAX_BACKUP_UPLOAD="64Ki",
        SWS_BACKUP_QUOTA="1Mi",
    )
    app = create_app(config)
    yield app
    dispose(app)


@pytest.fixture
def users(app):
    with app.app_context():
        return tuple({"Authorization": f"Bearer {auth.create_user(n)}"} for n in ("ann", "ben"))


def agent_keeps(url, tmp_path, backup_id, content: bytes) -> None:
    """What the agent's step leaves: the file at its path, the row kept."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT owner_id, service FROM backups WHERE id = %s", (backup_id,))
        owner, service = cur.fetchone()
        folder = tmp_path / "backups" / str(owner) / service
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{backup_id}.tar").write_bytes(content)
        cur.execute(
            """UPDATE backups SET state = 'kept', size_bytes = %s, sha256 = 'ab'
               WHERE id = %s""",
            (len(content), backup_id),
        )


def test_only_the_owner_sees_downloads_or_restores(client, users, migrated_database_url, tmp_path):
    ann, ben = users
    assert (
        client.put(
            "/v1/services/db", json={"apiVersion": "v1", "spec": SPEC}, headers=ann
        ).status_code
        == 201
    )
    taken = client.post("/v1/services/db/backups", headers=ann)
    assert taken.status_code == 201 and taken.json["state"] == "pending"
    again = client.post("/v1/services/db/backups", headers=ann)
    assert again.status_code == 409  # one under way at a time
    content = gzip.compress(b"a tar inside")
    agent_keeps(migrated_database_url, tmp_path, taken.json["id"], content)
    listed = client.get("/v1/services/db/backups", headers=ann).json
    assert [b["id"] for b in listed["backups"]] == [taken.json["id"]]
    assert listed["used_bytes"] == len(content)
    download = client.get(f"/v1/services/db/backups/{taken.json['id']}/download", headers=ann)
    assert download.status_code == 200 and download.data == content
    download.close()  # send_file's file object goes with the response
    for path in ("backups", f"backups/{taken.json['id']}", f"backups/{taken.json['id']}/download"):
        assert client.get(f"/v1/services/db/{path}", headers=ben).status_code == 404
    body = {"backup": taken.json["id"]}
    assert client.post("/v1/services/db/restores", json=body, headers=ben).status_code == 404
    assert client.post("/v1/services/db/backups", headers=ben).status_code == 404
    restore = client.post("/v1/services/db/restores", json=body, headers=ann)
    assert restore.status_code == 202 and restore.json["backup"] == taken.json["id"]
    assert (
        client.get(f"/v1/services/db/restores/{restore.json['id']}", headers=ben).status_code == 404
    )


def test_an_upload_is_spooled_within_its_limit(client, users, migrated_database_url, tmp_path):
    ann, _ = users
    client.put("/v1/services/db", json={"apiVersion": "v1", "spec": SPEC}, headers=ann)
    gz = {**ann, "Content-Type": "application/gzip"}
    assert client.post("/v1/services/db/restores", data=b"plain", headers=gz).status_code == 400
    big = gzip.compress(bytes(range(256)) * 1024, compresslevel=0)  # > 64 KiB
    assert client.post("/v1/services/db/restores", data=big, headers=gz).status_code == 413
    assert not list((tmp_path / "spool").iterdir())  # nothing half-written stays
    small = gzip.compress(b"data")
    answer = client.post("/v1/services/db/restores", data=io.BytesIO(small), headers=gz)
    assert answer.status_code == 202 and answer.json["uploaded_bytes"] == len(small)
    (spooled,) = (tmp_path / "spool").iterdir()
    assert spooled.read_bytes() == small


def test_purge_removes_backups_a_plain_delete_keeps_them(
    client, users, migrated_database_url, tmp_path
):
    ann, _ = users
    client.put("/v1/services/db", json={"apiVersion": "v1", "spec": SPEC}, headers=ann)
    taken = client.post("/v1/services/db/backups", headers=ann).json
    agent_keeps(migrated_database_url, tmp_path, taken["id"], gzip.compress(b"x"))
    assert client.delete("/v1/services/db", headers=ann).status_code == 202
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM services WHERE name = 'db'")  # the agent's forget, no purge
    assert len(client.get("/v1/services/db/backups", headers=ann).json["backups"]) == 1
    client.put("/v1/services/db", json={"apiVersion": "v1", "spec": SPEC}, headers=ann)
    assert client.delete("/v1/services/db?purge=true", headers=ann).status_code == 202
    with psycopg2.connect(migrated_database_url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM services WHERE name = 'db'")  # the agent's forget with purge
        cur.execute("DELETE FROM volumes WHERE name = 'db-volume'")
        cur.execute("SELECT count(*) FROM backups")
        assert cur.fetchone()[0] == 0
    assert client.get("/v1/services/db/backups", headers=ann).status_code == 404


def test_a_service_without_a_volume_has_no_backup(client, users):
    ann, _ = users
    spec = {"name": "web", "port": 80, "image": "sws-local/hello:2"}
    client.put("/v1/services/web", json={"apiVersion": "v1", "spec": spec}, headers=ann)
    assert client.post("/v1/services/web/backups", headers=ann).status_code == 409
