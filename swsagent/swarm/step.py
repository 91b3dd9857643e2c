"""The nodes step (issue 28): after each full pass, when agent.yml has a `swarm` section,
observe the manager (nodes, SWS's tasks, the nodes' reports), make sure the report service
runs, and record every node. Its failure fails no pass (cli.jobs_after_pass)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from swsagent import collection
from swsagent.config import AgentConfig
from swsagent.swarm.nodes import SwarmView, node_rows, sws_services
from swsagent.swarm.nodestore import record_nodes
from swsagent.swarm.report import ensure_report_service, read_reports, report_service_spec

log = logging.getLogger("sws.agent")


def observe_nodes(engine, services: list[dict], label_prefix: str, report_id, timeout: float):
    """The manager's node list, the tasks of SWS's services, and the report's logs (none
    before the report service exists)."""
    nodes = engine.call("GET", "/nodes")
    # Only SWS's services' tasks: the manager keeps every task's history, not only the live.
    owned = list(sws_services(services, label_prefix))
    tasks = []
    if owned:
        tasks = engine.call("GET", "/tasks", params={"filters": json.dumps({"service": owned})})
    reports = {}
    if report_id:
        try:
            reports = read_reports(engine, report_id, timeout)
        except collection.engine().EngineError as err:
            # A report missing this pass keeps the last one stored; the state still counts.
            log.warning("nodes step: the nodes' reports could not be read: %s", err)
    return SwarmView(nodes=nodes, tasks=tasks, services=services, reports=reports)


def nodes_step(config: AgentConfig, conn) -> None:
    settings, prefix = config.swarm, config.names.label_prefix
    collection.use(config.project_dir)
    engine = collection.engine().Engine(settings.manager_socket, settings.logs_timeout + 5)
    spec = report_service_spec(settings, prefix)
    services = engine.call("GET", "/services")
    created = ensure_report_service(engine, spec, services)
    if created:
        log.info("nodes step: started the report service %s", created)
        services = engine.call("GET", "/services")
    report_id = next((s["ID"] for s in services if s["Spec"]["Name"] == spec["Name"]), None)
    view = observe_nodes(engine, services, prefix, report_id, settings.logs_timeout)
    rows = node_rows(view, prefix)
    with conn.cursor() as cur:
        left = record_nodes(cur, rows, datetime.now(UTC))
    conn.commit()
    if left:
        log.info("nodes step: %d node(s) left the swarm", left)
