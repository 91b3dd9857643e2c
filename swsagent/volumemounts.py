"""Volumes' filesystems mounted again after a reboot (issue 25, module_utils/volumefs.py).

A loop mount does not survive a reboot, and Docker starts the services' containers (restart
policy) before any pass: each then binds the empty mountpoint, which is immutable, so its
writes fail rather than land on the host's root filesystem. Each pass looks (one ismount a
volume: microseconds); the run mounts what is missing and restarts the containers of that
service that run, so they bind the filesystem. A host that mounts them at boot (fstab or a
systemd mount unit ordered before docker.service; README.md) never needs this.
"""

from __future__ import annotations

from pathlib import Path

from swsagent import collection
from swsagent.desired import DesiredService
from swsagent.observe import RunningContainer


def unmounted(volumes_dir: Path | None, desired: list[DesiredService]) -> list[str]:
    """The services whose volume has an image file that is not mounted."""
    if volumes_dir is None:
        return []
    fs = collection.module_utils("volumefs").VolumeFs
    found = []
    for service in desired:
        if service.deleting or not (service.definition and service.definition.volume_mount):
            continue
        volume = fs.in_dir(str(volumes_dir), f"{service.name}-volume")
        if volume.exists() and not volume.mounted():
            found.append(service.name)
    return found


def remount(
    volumes_dir: Path, services: list[str], containers: list[RunningContainer], stop_timeout: int
) -> tuple[list[str], list[str]]:
    """Mount each service's volume and restart its running containers; (mounted, problems)."""
    volumefs = collection.module_utils("volumefs")
    engine_module = collection.engine()
    engine = engine_module.Engine()
    mounted, problems = [], []
    for name in services:
        try:
            volumefs.mount(volumefs.VolumeFs.in_dir(str(volumes_dir), f"{name}-volume"))
            for c in containers:
                if c.service == name and c.running:
                    engine.call(
                        "POST",
                        f"/containers/{c.name}/restart",
                        params={"t": stop_timeout},
                        timeout=stop_timeout + 30,
                    )
            mounted.append(name)
        except (volumefs.VolumeFsError, engine_module.EngineError) as err:
            problems.append(f"{name}-volume could not be mounted again: {err}")
    return mounted, problems
