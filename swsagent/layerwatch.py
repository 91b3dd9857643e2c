"""The watch on what service containers write to their own filesystem (issue 25).

A container's writable layer lives in Docker's data root, on the host's disk. A hard limit
needs `--storage-opt size=` (overlay2 on xfs with project quotas), which this host's kernel
cannot give (no quota support at all). So the agent looks after the fact: at most every
health_interval, one Engine API listing with sizes (`size=1`: 4-8 ms for 20 containers here,
since overlay2 walks each upper directory; too dear for every pass), and a serving container
that wrote more than writable_layer_max is stopped and its service failed, saying why. A
watch, not a limit: between two looks a container can write as fast as the disk takes it.
"""

from __future__ import annotations

import contextlib
import json

from swsagent import collection, record
from swsagent.desired import DesiredService
from swsagent.disklimits import shown


def layer_sizes(label_prefix: str) -> dict[str, int]:
    """{container: bytes in its writable layer} of the running service containers."""
    engine = collection.engine().Engine()
    filters = json.dumps({"label": [f"{label_prefix}.service"]})
    listed = engine.call("GET", "/containers/json", params={"size": 1, "filters": filters})
    return {c["Names"][0].lstrip("/"): int(c.get("SizeRw") or 0) for c in listed if c.get("Names")}


def over_cap(
    desired: list[DesiredService], containers: dict[str, str], sizes: dict[str, int], cap: int
) -> dict[str, tuple[str, int, int]]:
    """{service: (container, bytes written, generation)} of the services whose container
    (containers: container -> service) wrote more than `cap`; pure. 0: no cap."""
    if cap <= 0:
        return {}
    live = {s.name: s.generation for s in desired if not s.deleting and not s.stopped}
    found = {}
    for name, size in sorted(sizes.items()):
        service = containers.get(name)
        if service in live and size > cap:
            found[service] = (name, size, live[service])
    return found


def message(container: str, size: int, cap: int) -> str:
    return (
        f"stopped: {container} wrote {shown(size)} to its container filesystem, over the"
        f" host's {shown(cap)} (writable_layer_max); keep data in a volume (spec.volumeMount,"
        " resources.disk), then apply again"
    )


def enforce(conn, found: dict[str, tuple[str, int, int]], cap: int, stop_timeout: int) -> None:
    """Stop each container over the cap (its stop timeout runs on in the engine: no pass
    waits for it) and mark its service failed; the service stays so until a new apply."""
    engine_module = collection.engine()
    engine = engine_module.Engine()
    for service, (container, size, generation) in found.items():
        with contextlib.suppress(engine_module.EngineError):
            engine.stop(container, stop_timeout, wait=1.0)
        record.mark_failed(conn, service, generation, message(container, size, cap), None)
    conn.commit()
