"""The `nodes` table (issue 28): one swarm node a line, as the agent last saw it."""

from __future__ import annotations

from swsctl.output import aligned, glance

NODE_COLUMNS = (
    "NAME",
    "ROLE",
    "STATE",
    "AVAILABILITY",
    "SERVICES",
    "FREE MEMORY",
    "FREE DISK",
    "LAST SEEN",
)
UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(value) -> str:
    """Bytes in the largest binary unit that keeps the number at 1 or more: 1.5GiB."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return "-"
    number = float(value)
    for unit in UNITS:
        if number < 1024 or unit == UNITS[-1]:
            return f"{number:.0f}{unit}" if unit == "B" else f"{number:.1f}{unit}"
        number /= 1024
    return "-"  # not reached: the loop returns at the last unit


def nodes_table(nodes: list[dict]) -> str:
    rows = [NODE_COLUMNS]
    for node in nodes:
        rows.append(
            (
                node.get("name"),
                node.get("role"),
                node.get("state"),
                node.get("availability"),
                glance(",".join(node.get("services") or []) or "-", 60),
                size(node.get("mem_free_bytes")),
                size(node.get("disk_free_bytes")),
                node.get("last_seen_at") or "-",
            )
        )
    return aligned(rows)
