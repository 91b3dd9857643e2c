"""How services are shown: a table, a description, JSON or YAML, with env values masked.

Env values are where users put passwords and API keys, and terminals end up in screenshots
and CI logs, so every format masks them unless the caller asks for them explicitly.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import yaml

MASK = "********"
FORMATS = ("table", "json", "yaml")
TABLE_COLUMNS = ("NAME", "DOMAIN", "IMAGE", "STATUS", "AGE")


def masked(service: dict, show_secrets: bool = False) -> dict:
    """A copy of the service whose env values are hidden (unless show_secrets)."""
    if show_secrets:
        return service
    shown = copy.deepcopy(service)
    for variable in (shown.get("spec") or {}).get("env") or []:
        if isinstance(variable, dict) and "value" in variable:
            variable["value"] = MASK
    return shown


def to_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


class _OutputDumper(yaml.SafeDumper):
    """Readable non-ASCII text, but Unicode line breaks escaped: with allow_unicode PyYAML
    writes NEL and LS raw in a plain or single-quoted scalar, and they load back as a newline
    (so `get -o yaml` output would no longer apply as `unchanged`)."""


_UNICODE_BREAKS = "\x85\u2028\u2029"


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in _UNICODE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_OutputDumper.add_representer(str, _represent_str)


def to_yaml(data) -> str:
    return yaml.dump(
        data, Dumper=_OutputDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def render(data, fmt: str) -> str:
    """Machine-readable output for scripts (json or yaml)."""
    return to_json(data) if fmt == "json" else to_yaml(data).rstrip("\n")


def table(services: list[dict], now: datetime | None = None) -> str:
    """The `ls` table: name, domain, image, status, age; never any env."""
    now = now or datetime.now(UTC)
    rows = [TABLE_COLUMNS] + [
        (
            s.get("name", ""),
            (s.get("spec") or {}).get("domain", ""),
            (s.get("spec") or {}).get("image", ""),
            s.get("status", ""),
            age(s.get("created_at"), now),
        )
        for s in services
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = ("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def age(timestamp: str | None, now: datetime) -> str:
    """kubectl-style age: 42s, 7m, 5h, 3d."""
    moment = parse_time(timestamp)
    if moment is None:
        return "?"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def parse_time(timestamp: str | None) -> datetime | None:
    if not timestamp:
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe(service: dict, show_secrets: bool = False, now: datetime | None = None) -> str:
    """The `get` view: spec, generations, status, the agent's last message and log line."""
    now = now or datetime.now(UTC)
    spec = service.get("spec") or {}
    env = spec.get("env") or []
    purge = []
    if service.get("purge_volume"):  # deleted with --purge: the volume goes too
        purge = [("Purge", f"volume {service.get('name')}-volume")]
    fields = [
        ("Name", service.get("name")),
        ("Owner", service.get("owner")),
        ("Domain", spec.get("domain")),
        ("Image", spec.get("image")),
        ("Port", spec.get("port")),
        ("Volume mount", spec.get("volumeMount") or "(none)"),
        ("Status", service.get("status")),
        *purge,
        ("Generation", service.get("generation")),
        ("Applied generation", service.get("applied_generation")),
        ("Message", service.get("message") or "(none)"),
        ("Last log line", service.get("last_log") or "(none)"),
        ("Created", _when(service.get("created_at"), now)),
        ("Updated", _when(service.get("updated_at"), now)),
    ]
    width = max(len(label) for label, _ in fields) + 2
    lines = [f"{label + ':':<{width}}{'' if value is None else value}" for label, value in fields]
    lines.append(f"{'Env:':<{width}}(none)" if not env else "Env:")
    for variable in masked(service, show_secrets).get("spec", {}).get("env") or []:
        lines.append(f"  {variable.get('name')}={variable.get('value')}")
    if env and not show_secrets:
        lines.append("  (values hidden; add --show-secrets to show them)")
    return "\n".join(lines)


def _when(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return ""
    return f"{timestamp} ({age(timestamp, now)} ago)"


def outcome(service: dict) -> str:
    """One line on what an apply did: `service/web created (generation 1)`."""
    result = service.get("result", "applied")
    return f"service/{service.get('name')} {result} (generation {service.get('generation')})"


def progress(service: dict) -> str:
    """A status line while waiting: status, generations and the agent's message."""
    text = (
        f"service/{service.get('name')}: {service.get('status')} "
        f"(generation {service.get('generation')}, "
        f"applied {service.get('applied_generation') or 0})"
    )
    if service.get("message"):
        text += f": {service['message']}"
    return text
