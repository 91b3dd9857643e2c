"""The host's free disk, and what a pass may still add to it (issue 25).

Docker's data root (images, containers' writable layers, plain volumes) and the volumes'
directory (their image files) usually share the host's one disk with the store and
/var/lib/sws. Below the operator's floor (agent.yml min_free_disk) a pass starts no new
service and makes no new volume: what is already here keeps its updates, restarts and
retries, since stopping them would lose more than the floor protects. Observed with a statvfs
each (microseconds) and one Engine API call for the data root.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from swsagent import collection
from swsagent.desired import DesiredService
from swsagent.disklimits import DiskLimits, shown
from swsagent.observe import RunningContainer


@dataclass(frozen=True)
class DiskSpace:
    """Free bytes of each filesystem new deploys would write to, by the path looked at."""

    free: dict[str, int] = field(default_factory=dict)
    # Services whose volume's image file exists (sized volumes: volumes_dir is set).
    volumes_made: frozenset[str] = frozenset()

    def tightest(self) -> tuple[str, int] | None:
        """(path, free bytes) of the fullest filesystem; None when nothing was looked at."""
        return min(self.free.items(), key=lambda item: item[1]) if self.free else None


def observe_space(limits: DiskLimits, desired: list[DesiredService]) -> DiskSpace:
    """Free space where Docker keeps its data and where the volumes live; which of the
    desired services' volumes exist as image files."""
    paths = [_docker_root()]
    made: set[str] = set()
    if limits.volumes_dir is not None:
        paths.append(str(_existing(limits.volumes_dir)))
        fs = collection.module_utils("volumefs").VolumeFs
        made = {
            s.name
            for s in desired
            if s.definition and s.definition.volume_mount
            if fs.in_dir(str(limits.volumes_dir), f"{s.name}-volume").exists()
        }
    free = {}
    for path in paths:
        try:
            free[path] = shutil.disk_usage(path).free
        except OSError:
            continue  # not there: nothing of ours to fill on it
    return DiskSpace(free=free, volumes_made=frozenset(made))


def refuse_new(
    deploying: list[DesiredService],
    containers: list[RunningContainer],
    space: DiskSpace,
    floor: int,
    sized: bool,
) -> dict[str, str]:
    """{service: why} for the deploys below the floor that would add to the disk: a service
    that has never run here, or (sized: volumes are image files) one whose volume is not made
    yet. Pure: the pass's plan calls it with what observe saw."""
    tightest = space.tightest()
    if floor <= 0 or tightest is None or tightest[1] >= floor:
        return {}
    path, free = tightest
    here = {c.service for c in containers}
    why = (
        f"waiting for disk space: {path} has {shown(free)} free, under the host's floor of"
        f" {shown(floor)} (min_free_disk); new services and volumes wait until an operator"
        " frees some"
    )
    refused = {}
    for service in deploying:
        new_service = service.name not in here and not service.applied_generation
        new_volume = (
            sized and service.definition.volume_mount and service.name not in space.volumes_made
        )
        if new_service or new_volume:
            refused[service.name] = why
    return refused


def _docker_root() -> str:
    engine = collection.engine()
    try:
        return engine.Engine(timeout=5).call("GET", "/info")["DockerRootDir"]
    except (engine.EngineError, KeyError, TypeError):
        return "/var/lib/docker"  # the engine's default; the pass's own observe reports errors


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (a volumes dir not made yet: its disk)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
