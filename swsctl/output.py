"""How services are shown: a table, a description, JSON or YAML, with env values masked.

Env values are where users put passwords and API keys, and terminals end up in screenshots
and CI logs, so every format masks them unless the caller asks for them explicitly. Text from
the server (a service's output, the agent's messages, names) is shown, never obeyed by the
terminal: `shown` escapes control characters in every text format; JSON and YAML escape them
themselves and stay exact.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import click
import yaml

from swscore.spec import ENV_MASK as MASK

FORMATS = ("table", "json", "yaml")
TABLE_COLUMNS = (
    "NAME", "STACK", "DOMAIN", "IMAGE", "STATUS", "FOR", "REPLICAS", "RESTARTS", "AGE", "LAST LOG"
)  # fmt: skip
NONE = "-"  # a table cell for no stack, or no domain (a private service)
LAST_LOG_WIDTH = 50  # the table's glance at the last line; `swsctl get` shows more


# How a character the terminal would act on is shown: C0 and C1 controls, DEL, and other
# non-printing characters (bidi overrides, line separators). ESC would start a CSI or OSC
# sequence (colours, cursor moves, window titles, hyperlinks), CR would let a line overwrite
# what came before it on screen. A tab is kept: it only moves to the next column.
_NAMED = {"\r": "\\r", "\n": "\\n"}


def shown(value) -> str:
    r"""`value` as text the terminal shows as it is: `\x1b[31m` instead of red, `\r` for CR."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else _visible(c) for c in text)


def _visible(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_lines(text: str) -> str:
    """Lines of our own making, each shown: their newlines stay, nothing else is obeyed."""
    return "\n".join(shown(line) for line in str(text).split("\n"))


def echo(text: str, err: bool = False) -> None:
    """Print text made for the terminal (our own lines, the server's text inside them)."""
    click.echo(shown_lines(text), err=err)


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
    """The `ls` table: name, stack, domain, image, status and how long, restarts, age, the
    last log line (cut to fit); never any env. `-` for no stack, no domain (private)."""
    now = now or datetime.now(UTC)
    rows = [TABLE_COLUMNS] + [
        (
            s.get("name", ""),
            s.get("stack") or NONE,
            (s.get("spec") or {}).get("domain") or NONE,
            (s.get("spec") or {}).get("image", ""),
            s.get("status", ""),
            age(s.get("status_since"), now),
            replicas(s),
            s.get("restart_count", 0),
            age(s.get("created_at"), now),
            glance(s.get("last_log")),
        )
        for s in services
    ]
    return aligned(rows)


def replicas(service: dict, words: bool = False) -> str:
    """running/desired (issue 28): 2/3, or in words for `get`; `-` if the server does not say."""
    running, desired = service.get("replicas_running"), service.get("replicas_desired")
    if running is None or desired is None:
        return NONE
    return f"{running} running of {desired} desired" if words else f"{running}/{desired}"


STACK_COLUMNS = ("SERVICE", "STATUS", "DOMAIN", "LAST LOG")


def stack_table(stack: dict) -> str:
    """The `stack` table: each service of the stack, its status, domain and last log line."""
    rows = [STACK_COLUMNS] + [
        (s.get("name", ""), _stack_status(s), s.get("domain") or NONE, glance(s.get("last_log")))
        for s in stack.get("services") or []
    ]
    return aligned(rows)


def _stack_status(service: dict) -> str:
    """The status, and `stopping` while a stop waits for the agent."""
    status = service.get("status") or ""
    if service.get("stopped") and status != "stopped":
        return f"{status} (stopping)"
    return status


def aligned(rows: list[tuple]) -> str:
    """Columns padded to their widest cell, three spaces apart, like kubectl's tables."""
    rows = [tuple(shown(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


PASS_COLUMNS = ("PASS", "STARTED", "SECONDS", "OUTCOME", "DETAILS")


def passes_table(passes: list[dict]) -> str:
    """The `agent` table: one pass a line, newest first."""
    rows = [PASS_COLUMNS]
    for found in passes:
        started, finished = (
            parse_time(found.get("started_at")),
            parse_time(found.get("finished_at")),
        )
        seconds = f"{(finished - started).total_seconds():.2f}" if started and finished else "-"
        changed = found.get("changed") or {}
        details = " ".join(f"{key}={_short(value)}" for key, value in sorted(changed.items()))
        if found.get("message"):
            details = f"{details} ({found['message']})".strip()
        rows.append(
            (
                found.get("id"),
                found.get("started_at") or "",
                seconds,
                found.get("outcome"),
                glance(details, 100),
            )
        )
    return aligned(rows)


def _short(value) -> str:
    if isinstance(value, dict):
        return ",".join(sorted(str(k) for k in value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def glance(line: str | None, width: int = LAST_LOG_WIDTH) -> str:
    """One line of a service's output, fit for a table cell: control characters shown, not
    obeyed (a line is user data and must not move the terminal's cursor), cut to width."""
    if not line:
        return ""
    text = shown(line.strip())
    return text if len(text) <= width else text[: width - 3] + "..."


HISTORY_COLUMNS = ("GENERATION", "AGE", "CAUSE", "IMAGE", "DOMAIN", "PORT")


def history_table(history: dict, now: datetime | None = None) -> str:
    """The `history` table: one kept generation a line, newest first, the current marked."""
    now = now or datetime.now(UTC)
    rows = [HISTORY_COLUMNS]
    for entry in history.get("generations") or []:
        spec = entry.get("spec") or {}
        generation = entry.get("generation")
        if generation == history.get("generation"):
            generation = f"{generation} (current)"
        rows.append(
            (
                generation,
                age(entry.get("created_at"), now),
                cause(entry),
                spec.get("image", ""),
                spec.get("domain", ""),
                spec.get("port", ""),
            )
        )
    return aligned(rows)


def cause(entry: dict) -> str:
    """apply, restart, or `rollback to 3`."""
    if entry.get("cause") == "rollback" and entry.get("rolled_back_to"):
        return f"rollback to {entry['rolled_back_to']}"
    return str(entry.get("cause", ""))


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


def _http(http: dict | None) -> str:
    """spec.http in one line, as written; the host's defaults where it says nothing."""
    if not http:
        return "(host defaults)"
    return " ".join(f"{key}={json.dumps(value)}" for key, value in http.items())


def describe(service: dict, show_secrets: bool = False, now: datetime | None = None) -> str:
    """The `get` view: spec, generations, status, the agent's last message and log line."""
    now = now or datetime.now(UTC)
    spec = service.get("spec") or {}
    env = spec.get("env") or []
    purge = []
    if service.get("purge_volume"):  # deleted with --purge: the volume goes too
        purge = [("Purge", f"volume {service.get('name')}-volume")]
    # Shown only when the agent found part of the host down (e.g. a proxy it cannot restart).
    host = [("Host", service["host_notice"])] if service.get("host_notice") else []
    fields = [
        ("Name", service.get("name")),
        ("Owner", service.get("owner")),
        ("Domain", spec.get("domain") or "(none: private)"),
        ("Stack", service.get("stack") or "(none)"),
        ("Image", spec.get("image")),
        ("Port", spec.get("port")),
        ("Volume mount", spec.get("volumeMount") or "(none)"),
        ("HTTP", _http(spec.get("http"))),
        *_site(spec),
        ("Resources", _resources(spec.get("resources"))),
        (
            "Health check",
            f"GET {(spec.get('healthCheck') or {}).get('path')}"
            if spec.get("healthCheck")
            else "(a TCP connection to the port)",
        ),
        ("Status", _status(service, now)),
        ("Replicas", replicas(service, words=True)),
        *host,
        ("Restarts", service.get("restart_count", 0)),
        *purge,
        ("Generation", service.get("generation")),
        ("Applied generation", service.get("applied_generation")),
        ("Message", service.get("message") or "(none)"),
        ("Last log line", glance(service.get("last_log"), 500) or "(none)"),
        ("Created", _when(service.get("created_at"), now)),
        ("Updated", _when(service.get("updated_at"), now)),
    ]
    width = max(len(label) for label, _ in fields) + 2
    lines = [
        f"{label + ':':<{width}}{'' if value is None else shown(value)}" for label, value in fields
    ]
    lines.append(f"{'Env:':<{width}}(none)" if not env else "Env:")
    for variable in masked(service, show_secrets).get("spec", {}).get("env") or []:
        lines.append(f"  {shown(variable.get('name'))}={shown(variable.get('value'))}")
    if env and not show_secrets:
        lines.append("  (values hidden; add --show-secrets to show them)")
    return "\n".join(lines)


def _site(spec: dict) -> list[tuple[str, str]]:
    """Issue 27's fields, each only when set: users by name (never a hash), pages by size."""
    rows = [(label, ", ".join(spec[key])) for label, key in SITE_LISTS if spec.get(key)]
    access = spec.get("access") if isinstance(spec.get("access"), dict) else {}
    if access.get("basicAuth"):
        users = ", ".join(str(u.get("user")) for u in access["basicAuth"])
        rows.append(("Basic auth", f"users {users}"))
    if access.get("allow"):
        rows.append(("Allow", ", ".join(access["allow"])))
    pages = spec.get("pages") if isinstance(spec.get("pages"), dict) else {}
    shown_pages = [f"{kind} ({len(str(page).encode())} bytes)" for kind, page in pages.items()]
    if shown_pages:
        rows.append(("Pages", ", ".join(shown_pages)))
    return rows


SITE_LISTS = (("Aliases", "aliases"), ("Redirects", "redirects"))


def _status(service: dict, now: datetime) -> str:
    status = service.get("status") or ""
    if service.get("status_since"):
        return f"{status} (for {age(service['status_since'], now)})"
    return status


def _resources(resources) -> str:
    """The spec's own limits; the host's defaults apply to what it leaves out."""
    resources = resources if isinstance(resources, dict) else {}
    memory = resources.get("memory") or "host default"
    cpus = resources.get("cpus") or "host default"
    # The volume's size only when the spec sets one: most services have no volume.
    disk = f", disk {resources['disk']}" if resources.get("disk") else ""
    return f"memory {memory}, cpus {cpus}{disk}"


def _when(timestamp: str | None, now: datetime) -> str:
    if not timestamp:
        return ""
    return f"{timestamp} ({age(timestamp, now)} ago)"


def outcome(service: dict) -> str:
    """One line on what an apply did: `service/web created (generation 1)`."""
    result = service.get("result", "applied")
    return shown(f"service/{service.get('name')} {result} (generation {service.get('generation')})")


def progress(service: dict) -> str:
    """A status line while waiting: status, generations and the agent's message."""
    text = (
        f"service/{service.get('name')}: {service.get('status')} "
        f"(generation {service.get('generation')}, "
        f"applied {service.get('applied_generation') or 0})"
    )
    if service.get("message"):
        text += f": {service['message']}"
    return shown(text)


def log_line(item: dict, timestamps: bool = False, prefix: bool = False) -> str:
    """One line of `swsctl logs`: the text as the service printed it, optionally after its
    time and its container."""
    parts = []
    if timestamps:
        parts.append(str(item.get("time", "")))
    if prefix:
        parts.append(f"{item.get('container', '')} |")
    parts.append(str(item.get("line", "")))
    return shown(" ".join(parts))
