"""Jobs through the API (issue 26) on a real PostgreSQL with two users: a run is asked for,
listed, stopped and its output read only by its service's owner; the store gets the request
and a NOTIFY, never more (the agent does the rest); the refusals say why."""

from datetime import UTC, datetime

import psycopg2

from swsagent.loglines import END, LogLine
from swsagent.logstore import insert_run_lines
from tests.fixtures.store import Store
from tests.integration.test_api_services import apply, definition, error


def running_service(client, app, headers, name="web", **spec):
    assert apply(client, headers, definition(name, **spec)).status_code == 201
    Store(app).mark_running(name)


def start(client, headers, name="web", **body):
    return client.post(
        f"/v1/services/{name}/jobs",
        json={"command": ["sh", "-c", "echo hi"], **body},
        headers=headers,
    )


def ship(app, run_id, texts, end=True):
    """Lines of the run's container, as the log shipper writes them."""
    url = Store(app).database_url
    lines = [LogLine(0, 0, "c", datetime.now(UTC), "stdout", t, run_id) for t in texts]
    if end:
        lines.append(LogLine(0, 0, "c", datetime.now(UTC), END, "", run_id))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        insert_run_lines(cur, lines)
    conn.close()


def finish(app, run_id, state="failed", code=3):
    """The agent's record of the run's end (jobstore.mark_finished)."""
    from swsagent import jobstore

    with psycopg2.connect(Store(app).database_url) as conn, conn.cursor() as cur:
        jobstore.mark_finished(cur, run_id, state, code, None)
    conn.close()


def test_a_run_is_pending_with_a_notify_and_only_its_owner_sees_it(client, app, alice, bob):
    running_service(client, app, alice)
    listen = psycopg2.connect(Store(app).database_url)
    listen.autocommit = True
    listen.cursor().execute("LISTEN sws_services")
    response = start(client, alice, timeout="5m")
    assert response.status_code == 201, response.data
    run = response.get_json()
    assert run["state"] == "pending" and run["timeout_seconds"] == 300
    assert run["command"] == ["sh", "-c", "echo hi"]
    listen.poll()
    assert any('"job"' in n.payload for n in listen.notifies)
    listen.close()
    path = f"/v1/services/web/jobs/{run['id']}"
    # bob: neither start, list, see, stop nor read it; as if nothing were there.
    assert start(client, bob).status_code == 404
    assert client.get("/v1/services/web/jobs", headers=bob).status_code == 404
    for method, url in (("get", path), ("post", path + "/stop"), ("get", path + "/logs")):
        assert getattr(client, method)(url, headers=bob).status_code == 404
    running_service(client, app, bob, name="bobs")
    assert client.get(f"/v1/services/bobs/jobs/{run['id']}", headers=bob).status_code == 404
    assert client.post(f"/v1/services/bobs/jobs/{run['id']}/stop", headers=bob).status_code == 404
    listed = client.get("/v1/services/web/jobs", headers=alice).get_json()
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    stopped = client.post(path + "/stop", headers=alice)
    assert stopped.status_code == 202 and stopped.get_json()["stop_requested"] is True


def test_output_pages_and_the_stream_ends_with_the_exit_code(client, app, alice):
    running_service(client, app, alice)
    run_id = start(client, alice).get_json()["id"]
    ship(app, run_id, ["one", "two \x1b[31m"])
    finish(app, run_id)
    page = client.get(f"/v1/services/web/jobs/{run_id}/logs", headers=alice).get_json()
    assert [line["line"] for line in page["lines"]] == ["one", "two \x1b[31m"]
    assert page["run"]["state"] == "failed" and page["run"]["exit_code"] == 3
    streamed = client.get(f"/v1/services/web/jobs/{run_id}/logs?follow=true", headers=alice)
    items = [line for line in streamed.get_data(as_text=True).splitlines() if line.strip()]
    assert '"end": "finished"' in items[-1] and '"exit_code": 3' in items[-1]
    assert len(items) == 3


def test_refusals_say_why(client, app, alice):
    assert apply(client, alice, definition("fresh")).status_code == 201
    assert start(client, alice, name="fresh").status_code == 409  # never ran yet
    running_service(client, app, alice, name="db", volumeMount="/data")
    refused = start(client, alice, name="db")
    assert refused.status_code == 409 and "one writer" in error(refused)["message"]
    running_service(client, app, alice, name="shared", volumeMount="/data", update="rolling")
    assert start(client, alice, name="shared").status_code == 201
    for body in ({"command": "echo hi"}, {"command": []}, {"command": ["a\x00"]}):
        assert client.post("/v1/services/shared/jobs", json=body, headers=alice).status_code == 400
    assert start(client, alice, name="shared", timeout="2h").status_code == 400  # over the cap
    assert start(client, alice, name="shared", shell="bash").status_code == 400


def test_a_spec_job_timeout_over_the_cap_is_refused(client, alice):
    job = {"name": "j", "schedule": "* * * * *", "command": ["true"], "timeout": "2h"}
    response = apply(client, alice, definition("web", jobs=[job]))
    assert response.status_code == 400
    assert "spec.jobs[0].timeout" in error(response)["fields"]
