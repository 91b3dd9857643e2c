"""How swsctl shows services: tables, descriptions, JSON/YAML, masked env, ages, progress."""

import io
import json
from datetime import UTC, datetime, timedelta

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from swsctl import output
from swsctl.definition import parse_definition
from swsctl.progress import Progress
from tests.unit.test_render_literal import env_values

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def service(**overrides) -> dict:
    base = {
        "name": "web",
        "owner": "alice",
        "spec": {
            "name": "web",
            "port": 8080,
            "domain": "web.example.com",
            "image": "nginx:1.25",
            "env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "MODE", "value": "x"}],
        },
        "generation": 3,
        "applied_generation": 2,
        "status": "pending",
        "message": "pulling image",
        "last_log": "listening on :8080",
        "restart_count": 2,
        "replicas_running": 2,
        "replicas_desired": 3,
        "status_since": (NOW - timedelta(seconds=30)).isoformat(),
        "created_at": (NOW - timedelta(minutes=5)).isoformat(),
        "updated_at": (NOW - timedelta(seconds=30)).isoformat(),
    }
    base.update(overrides)
    return base


def test_table_has_the_columns_and_no_env():
    text = output.table([service(), service(name="api", status="running")], now=NOW)
    header, *rows = text.splitlines()
    assert header.split() == [
        "NAME", "STACK", "DOMAIN", "IMAGE", "STATUS", "FOR", "REPLICAS", "RESTARTS", "AGE", "LAST",
        "LOG",
    ]  # fmt: skip
    assert rows[0].split() == [
        "web", "-", "web.example.com", "nginx:1.25", "pending", "30s", "2/3", "2", "5m",
        "listening", "on", ":8080",
    ]  # fmt: skip
    assert "hunter2" not in text and "DB_PASSWORD" not in text
    # Columns line up: every row starts its DOMAIN where the header does.
    assert all(row.index("web.example.com") == header.index("DOMAIN") for row in rows)


def test_table_shows_the_stack_and_a_dash_for_a_private_service():
    private = service(name="db", stack="shop", spec={"name": "db", "image": "postgres:16"})
    row = output.table([private], now=NOW).splitlines()[1].split()
    assert row[:4] == ["db", "shop", "-", "postgres:16"]


def test_stack_table_names_each_service_its_status_domain_and_last_line():
    stack = {
        "name": "shop",
        "services": [
            {"name": "db", "status": "running", "stopped": True, "domain": None,
             "last_log": "ready\x1b[2J"},
            {"name": "front", "status": "stopped", "stopped": True, "domain": "shop.example.com",
             "last_log": None},
        ],
    }  # fmt: skip
    lines = output.stack_table(stack).splitlines()
    assert lines[0].split() == ["SERVICE", "STATUS", "DOMAIN", "LAST", "LOG"]
    assert lines[1].split() == ["db", "running", "(stopping)", "-", "ready\\x1b[2J"]
    assert lines[2].split() == ["front", "stopped", "shop.example.com"]


def test_masked_hides_every_env_value_and_leaves_the_original_alone():
    original = service()
    shown = output.masked(original)
    assert [e["value"] for e in shown["spec"]["env"]] == [output.MASK, output.MASK]
    assert original["spec"]["env"][0]["value"] == "hunter2"
    assert output.masked(original, show_secrets=True)["spec"]["env"][0]["value"] == "hunter2"


def test_json_and_yaml_render_what_they_are_given():
    data = [output.masked(service())]
    assert json.loads(output.render(data, "json")) == data
    assert yaml.safe_load(output.render(data, "yaml")) == data


def test_describe_shows_status_generations_message_and_log_with_env_masked():
    text = output.describe(service(), now=NOW)
    assert "Generation:" in text and "3" in text
    assert "Applied generation:" in text
    assert "pulling image" in text and "listening on :8080" in text
    assert "DB_PASSWORD=********" in text
    assert "hunter2" not in text
    assert "--show-secrets" in text
    assert "DB_PASSWORD=hunter2" in output.describe(service(), show_secrets=True, now=NOW)


def test_describe_copes_with_a_service_without_env_or_message():
    bare = service(message=None, last_log=None)
    bare["spec"] = {k: v for k, v in bare["spec"].items() if k != "env"}
    text = output.describe(bare, now=NOW)
    assert "Env:" in text and "(none)" in text


def test_describe_says_when_the_volume_goes_with_the_service():
    assert "Purge:" not in output.describe(service(status="deleting", purge_volume=False), now=NOW)
    text = output.describe(service(status="deleting", purge_volume=True), now=NOW)
    assert "Purge:              volume web-volume" in text.splitlines()


def test_ages():
    def ago(**delta):
        return output.age((NOW - timedelta(**delta)).isoformat(), NOW)

    assert ago(seconds=42) == "42s"
    assert ago(minutes=7) == "7m"
    assert ago(hours=5) == "5h"
    assert ago(days=3) == "3d"
    assert output.age("2026-11-22T11:59:00Z", NOW) == "60s"
    assert output.age("2026-11-22T11:59:00", NOW) == "60s"  # naive: taken as UTC
    assert output.age(None, NOW) == "?"
    assert output.age("yesterday", NOW) == "?"


def test_outcome_line():
    line = output.outcome({**service(), "result": "unchanged"})
    assert line == "service/web unchanged (generation 3)"


def test_progress_prints_plain_lines_only_when_something_changes():
    stream = io.StringIO()
    show = Progress(stream, interactive=False)
    show(service())
    show(service())
    show(service(status="running", applied_generation=3, message=None))
    show.close()
    assert stream.getvalue().splitlines() == [
        "service/web: pending (generation 3, applied 2): pulling image",
        "service/web: running (generation 3, applied 3)",
    ]


def test_progress_on_a_terminal_rewrites_one_line():
    stream = io.StringIO()
    show = Progress(stream, interactive=True)
    show(service())
    show(service())
    show.close()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r\x1b[K") == 3


def test_progress_on_a_narrow_terminal_never_wraps(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()
    show = Progress(stream, interactive=True)
    show(service(message="a long message from the agent " * 5))
    drawn = stream.getvalue().removeprefix("\r\x1b[K")
    assert len(drawn) <= 39
    assert drawn.endswith("...")


def test_the_last_log_line_is_cut_to_fit_and_cannot_move_the_cursor():
    line = "\x1b[2J" + "x" * 100
    text = output.table([service(last_log=line)], now=NOW)
    assert "\x1b" not in text
    assert text.splitlines()[1].endswith("\\x1b[2J" + "x" * 40 + "...")


def test_get_shows_the_status_with_how_long_and_the_restarts():
    text = output.describe(service(status="running"), now=NOW)
    assert "Status:" in text and "running (for 30s)" in text
    assert "Restarts:           2" in text
    assert "Last log line:      listening on :8080" in text


def test_a_log_line_with_its_time_and_container():
    item = {"time": "2026-11-22T12:00:00+00:00", "container": "sws-svc-web-2", "line": "hi"}
    assert output.log_line(item) == "hi"
    assert output.log_line(item, timestamps=True, prefix=True) == (
        "2026-11-22T12:00:00+00:00 sws-svc-web-2 | hi"
    )


def test_describe_shows_the_specs_resources_and_the_hosts_defaults():
    assert (
        "Resources:          memory host default, cpus host default"
        in output.describe(service(), now=NOW).splitlines()
    )
    limited = service()
    limited["spec"] = {**limited["spec"], "resources": {"memory": "256Mi"}}
    text = output.describe(limited, now=NOW)
    assert "Resources:          memory 256Mi, cpus host default" in text.splitlines()
    limited["spec"]["resources"] = {"disk": "32Mi"}
    text = output.describe(limited, now=NOW)
    assert "Resources:          memory host default, cpus host default, disk 32Mi" in text


@settings(max_examples=300, deadline=None)
@given(values=st.lists(env_values, max_size=8))
def test_yaml_and_json_output_load_back_as_the_same_env_values(values):
    # `swsctl get -o yaml|json --show-secrets` must apply back as `unchanged`: what it prints
    # has to parse, through swsctl's own definition reader, to exactly the values it showed.
    env = [{"name": f"V{i}", "value": value} for i, value in enumerate(values)]
    service = {
        "apiVersion": "v1",
        "name": "web",
        "spec": {"name": "web", "port": 8080, "domain": "web.test", "image": "web:1", "env": env},
        "generation": 3,
        "status": "running",
    }
    for fmt in ("yaml", "json"):
        found = parse_definition(output.render(service, fmt), "<get>")
        assert [{"name": e.name, "value": e.value} for e in found.definition.env] == env
