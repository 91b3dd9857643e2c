"""Each node's report of its free memory and disk, carried by the swarm itself.

A worker's engine is not reachable from the manager's host, but the manager gathers any
service's task logs from every node. So a global service (`sws-node-report`, one task a node)
runs a shell loop that prints one JSON line per interval, and the agent reads the last lines
through the manager's API (`/services/<id>/logs?tail=`). The loop reads /proc/meminfo and
df of the node's Docker data root, mounted read-only; no process of SWS runs on the node.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime

from swsagent.dockerapi import frames
from swsagent.swarm.settings import REPORT_SERVICE, SwarmSettings

DATA_ROOT_MOUNT = "/sws/data-root"
# POSIX sh with df and tail only (busybox has them): no awk, no Python on the node.
REPORT_LOOP = r"""
while :; do
  mem=
  while read -r key value unit; do
    [ "$key" = MemAvailable: ] && mem=$value
  done < /proc/meminfo
  set -- $(df -Pk "$SWS_DATA_ROOT" | tail -n 1)
  printf '{"sws_node_report":1,"node":"%s","mem_free_kib":%s,"disk_free_kib":%s}\n' \
    "$SWS_NODE_ID" "${mem:-null}" "${4:-null}"
  sleep "$SWS_REPORT_INTERVAL"
done
"""
LINES_PER_NODE = 2  # the last lines of each task; the newest wins


@dataclass(frozen=True)
class Report:
    node_id: str
    mem_free_bytes: int | None
    disk_free_bytes: int | None
    reported_at: datetime


def report_service_spec(settings: SwarmSettings, label_prefix: str) -> dict:
    """The Engine API's service spec of the report; its digest is a label, so a changed
    setting replaces the service and an unchanged one is left alone."""
    container = {
        "Image": settings.report_image,
        "Command": ["/bin/sh", "-c", REPORT_LOOP],
        # A swarm template: each task learns the ID of the node it runs on.
        "Env": [
            "SWS_NODE_ID={{.Node.ID}}",
            f"SWS_DATA_ROOT={DATA_ROOT_MOUNT}",
            f"SWS_REPORT_INTERVAL={settings.report_interval}",
        ],
        "Mounts": [
            {
                "Type": "bind",
                "Source": settings.data_root,
                "Target": DATA_ROOT_MOUNT,
                "ReadOnly": True,
            }
        ],
        "StopGracePeriod": 1_000_000_000,
    }
    spec = {
        "Name": REPORT_SERVICE,
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {"Limits": {"MemoryBytes": 16 * 2**20, "NanoCPUs": 50_000_000}},
            "RestartPolicy": {"Condition": "any", "Delay": 2_000_000_000},
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "64k", "max-file": "2"}},
        },
        "Mode": {"Global": {}},
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    spec["Labels"] = {f"{label_prefix}.node-report": digest}
    return spec


def ensure_report_service(engine, spec: dict, services: list[dict]) -> str | None:
    """Create the report service, or replace one whose spec changed; its ID. `services`: the
    manager's service list. None when it already runs as specified."""
    label, digest = next(iter(spec["Labels"].items()))
    found = [s for s in services if s["Spec"]["Name"] == REPORT_SERVICE]
    if found and found[0]["Spec"].get("Labels", {}).get(label) == digest:
        return None
    for old in found:
        engine.call("DELETE", f"/services/{old['ID']}")
    return engine.call("POST", "/services/create", body=spec)["ID"]


def read_reports(engine, service_id: str, timeout: float) -> dict[str, Report]:
    """The newest report of each node, from the service's task logs on the manager."""
    params = {"stdout": 1, "stderr": 0, "timestamps": 1, "tail": LINES_PER_NODE}
    raw = engine.read(f"/services/{service_id}/logs", params, timeout)
    text = b"".join(piece for _, piece in frames(io.BytesIO(raw)))
    return parse_reports(text.decode("utf-8", "replace"))


def parse_reports(text: str) -> dict[str, Report]:
    """Lines `<RFC 3339 time> {json}`; anything else (a line cut short, an error the manager
    put in the stream for a node it cannot reach) is skipped."""
    newest: dict[str, Report] = {}
    for line in text.splitlines():
        report = _report(line)
        if report is None:
            continue
        known = newest.get(report.node_id)
        if known is None or report.reported_at > known.reported_at:
            newest[report.node_id] = report
    return newest


def _report(line: str) -> Report | None:
    stamp, _, body = line.strip().partition(" ")
    try:
        values = json.loads(body)
        when = _time(stamp)
    except ValueError:
        return None
    if not isinstance(values, dict) or values.get("sws_node_report") != 1:
        return None
    node = values.get("node")
    if not isinstance(node, str) or not node:
        return None
    return Report(node, _kib(values.get("mem_free_kib")), _kib(values.get("disk_free_kib")), when)


def _kib(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value * 1024


def _time(stamp: str) -> datetime:
    """Docker's timestamps have nanoseconds; Python's fromisoformat takes six digits."""
    head, dot, rest = stamp.partition(".")
    if dot:
        digits = rest.rstrip("Z")
        zone = rest[len(digits) :]
        stamp = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
