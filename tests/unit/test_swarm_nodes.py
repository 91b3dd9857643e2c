"""The nodes step's pure parts (issue 28): the nodes' report lines, the rows made of the
manager's node list and tasks, the report service's spec, agent.yml's swarm section, and
swsctl's nodes table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from swsagent.config import AgentConfigError, config_from_mapping
from swsagent.swarm.nodes import SwarmView, node_rows, services_by_node, sws_services
from swsagent.swarm.report import REPORT_LOOP, Report, parse_reports, report_service_spec
from swsagent.swarm.settings import SwarmSettingError, SwarmSettings, swarm_settings
from swsctl.nodes import nodes_table, size

SETTINGS = SwarmSettings(manager_socket="/run/m.sock", report_image="report:1")


def line(node: str, when: str, mem=100, disk=200) -> str:
    body = f'{{"sws_node_report":1,"node":"{node}","mem_free_kib":{mem},"disk_free_kib":{disk}}}'
    return f"{when} {body}"


def test_the_newest_report_of_each_node_wins():
    text = "\n".join(
        [
            line("n1", "2026-12-06T19:00:01.123456789Z", mem=1),
            line("n1", "2026-12-06T19:00:11.000000001Z", mem=2),
            line("n2", "2026-12-06T19:00:05Z", mem=3, disk=4),
        ]
    )
    reports = parse_reports(text)
    assert reports["n1"].mem_free_bytes == 2 * 1024
    assert reports["n1"].reported_at == datetime(2026, 12, 6, 19, 0, 11, tzinfo=UTC)
    assert (reports["n2"].mem_free_bytes, reports["n2"].disk_free_bytes) == (3072, 4096)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-12-06T19:00:01Z not json",
        '2026-12-06T19:00:01Z {"node":"n1","mem_free_kib":1}',  # not a report
        '2026-12-06T19:00:01Z {"sws_node_report":1,"node":"","mem_free_kib":1}',
        'yesterday {"sws_node_report":1,"node":"n1"}',
        "error from daemon in stream: node n3 is not available",
    ],
)
def test_lines_that_are_no_report_are_skipped(text):
    assert parse_reports(text) == {}


def test_a_value_that_is_no_count_is_unknown():
    reports = parse_reports(line("n1", "2026-12-06T19:00:01Z", mem="null", disk=-1))
    assert reports["n1"].mem_free_bytes is None and reports["n1"].disk_free_bytes is None


def node(node_id, name, state="ready", role="worker", labels=None, addr="10.0.0.2"):
    return {
        "ID": node_id,
        "Description": {
            "Hostname": name,
            "Resources": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * 2**30},
        },
        "Spec": {"Role": role, "Availability": "active", "Labels": labels or {}},
        "Status": {"State": state, "Addr": addr},
    }


def task(service_id, node_id, state="running"):
    return {"ServiceID": service_id, "NodeID": node_id, "Status": {"State": state}}


SERVICES = [
    {"ID": "s1", "Spec": {"Name": "sws-web", "Labels": {"sws.service": "web"}}},
    {"ID": "s2", "Spec": {"Name": "sws-api", "Labels": {"sws.service": "api"}}},
    {"ID": "s3", "Spec": {"Name": "someone-elses", "Labels": {}}},
]


def test_services_are_the_sws_ones_with_a_running_task_on_the_node():
    owned = sws_services(SERVICES, "sws")
    assert owned == {"s1": "web", "s2": "api"}
    tasks = [
        task("s1", "n1"),
        task("s2", "n1", state="shutdown"),
        task("s2", "n2"),
        task("s3", "n2"),
        {"ServiceID": "s1", "Status": {"State": "pending"}},  # not placed yet: no NodeID
    ]
    assert services_by_node(tasks, owned) == {"n1": {"web"}, "n2": {"api"}}


def test_a_row_per_listed_node_with_its_report():
    report = Report("n1", 1, 2, datetime(2026, 12, 6, tzinfo=UTC))
    manager = node("n1", "node-1", role="manager", labels={"sws.edge": "true"}, addr="0.0.0.0")
    manager["ManagerStatus"] = {"Addr": "10.0.0.1:2377", "Leader": True}
    view = SwarmView(
        nodes=[manager, node("n2", "node-2", state="down")],
        tasks=[task("s1", "n2"), task("s2", "n2")],
        services=SERVICES,
        reports={"n1": report},
    )
    first, second = node_rows(view, "sws")
    assert (first.name, first.role, first.address, first.labels) == (
        "node-1",
        "manager",
        "10.0.0.1",
        {"sws.edge": "true"},
    )
    assert first.report == report and first.cpus == 2.0 and first.memory_bytes == 4 * 2**30
    assert (second.state, second.services, second.report) == ("down", ("api", "web"), None)


def test_the_report_service_is_global_read_only_and_labelled_with_its_digest():
    spec = report_service_spec(SETTINGS, "sws")
    assert spec["Mode"] == {"Global": {}}
    (mount,) = spec["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert mount["ReadOnly"] is True and mount["Source"] == "/var/lib/docker"
    assert "SWS_NODE_ID={{.Node.ID}}" in spec["TaskTemplate"]["ContainerSpec"]["Env"]
    assert spec == report_service_spec(SETTINGS, "sws")
    other = SwarmSettings(manager_socket="/run/m.sock", report_image="report:2")
    assert report_service_spec(other, "sws")["Labels"] != spec["Labels"]
    assert "awk" not in REPORT_LOOP  # busybox's sh, df and tail are all it may need


def test_the_swarm_section_is_checked_and_named():
    assert swarm_settings({"manager_socket": "/s", "report_image": "i"}, "x").report_interval == 10
    cases = [
        ("nope", "swarm must be a mapping"),
        ({"report_image": "i"}, "swarm.manager_socket is required"),
        ({"manager_socket": "/s", "report_image": ""}, "swarm.report_image"),
        ({"manager_socket": "/s", "report_image": "i", "bogus": 1}, "swarm.bogus"),
        ({"manager_socket": "/s", "report_image": "i", "report_interval": 0}, "report_interval"),
        ({"manager_socket": "/s", "report_image": "i", "data_root": "rel"}, "swarm.data_root"),
    ]
    for raw, named in cases:
        with pytest.raises(SwarmSettingError, match=named):
            swarm_settings(raw, "agent.yml")


def test_the_agent_config_has_no_swarm_unless_configured():
    url = "postgresql://sws@127.0.0.1/sws"
    project = {"project_dir": "."}
    assert config_from_mapping({"database_url": url, **project}).swarm is None
    raw = {"database_url": url, **project, "swarm": {"manager_socket": "/s", "report_image": "i"}}
    assert config_from_mapping(raw).swarm.manager_socket == "/s"
    with pytest.raises(AgentConfigError, match="swarm.report_image is required"):
        config_from_mapping({"database_url": url, **project, "swarm": {"manager_socket": "/s"}})


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "-"), (512, "512B"), (1536, "1.5KiB"), (3 * 2**30, "3.0GiB"), (-1, "-")],
)
def test_sizes_are_shown_in_binary_units(value, shown):
    assert size(value) == shown


def test_the_nodes_table_has_a_line_per_node():
    text = nodes_table(
        [
            {
                "name": "node-2",
                "role": "worker",
                "state": "down",
                "availability": "active",
                "services": ["api", "web"],
                "mem_free_bytes": 2**30,
                "disk_free_bytes": None,
                "last_seen_at": "2026-12-06T19:00:00+00:00",
            }
        ]
    )
    header, row = text.splitlines()
    assert header.split()[:4] == ["NAME", "ROLE", "STATE", "AVAILABILITY"]
    assert row.split() == [
        "node-2",
        "worker",
        "down",
        "active",
        "api,web",
        "1.0GiB",
        "-",
        "2026-12-06T19:00:00+00:00",
    ]


class FakeConnection:
    def rollback(self) -> None:
        pass


def test_the_nodes_step_runs_after_a_full_pass_only_with_a_swarm(monkeypatch):
    # The jobs and backups steps are stubbed: for real they would look at this machine's
    # engine, where an installed SWS host runs. What is tested is when the nodes step runs.
    from swsagent import backuppass, cli, jobpass
    from swsagent.swarm import step

    class Wake:
        wake_in = None

    monkeypatch.setattr(jobpass, "jobs_step", lambda config, conn: Wake())
    monkeypatch.setattr(backuppass, "backups_step", lambda config, conn, sweep: Wake())
    calls = []
    monkeypatch.setattr(step, "nodes_step", lambda config, conn: calls.append(config))
    url = "postgresql://sws@127.0.0.1/sws"
    single = config_from_mapping({"database_url": url, "project_dir": "."})
    section = {"manager_socket": "/s", "report_image": "i"}
    swarm = config_from_mapping({"database_url": url, "project_dir": ".", "swarm": section})

    cli.jobs_after_pass(single, FakeConnection(), sweep=True)
    cli.jobs_after_pass(swarm, FakeConnection(), sweep=False)  # the jobs step's own wake
    assert calls == []
    cli.jobs_after_pass(swarm, FakeConnection(), sweep=True)
    assert calls == [swarm]

    def broken(config, conn):
        raise OSError("the manager's socket is gone")

    monkeypatch.setattr(step, "nodes_step", broken)
    assert cli.jobs_after_pass(swarm, FakeConnection(), sweep=True) is None  # no pass fails
