"""The operator's disk settings (issue 25: one tenant could fill the host's disk), read from
agent.yml, which the bootstrap writes from sws.yml's sws_default_service_disk, sws_volumes_dir,
sws_min_free_disk and sws_writable_layer_max.

Sizes are written as a spec's memory is (bytes, or k M G Ki Mi Gi), so one parser serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swsagent.desired import DesiredService
from swscore.spec import memory_bytes

GiB = 2**30

# agent.yml's keys for DiskLimits.
DISK_KEYS = {"service_disk", "volumes_dir", "min_free_disk", "writable_layer_max"}


class DiskSettingError(ValueError):
    """A disk setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DiskLimits:
    # A volume's size when its spec sets no resources.disk.
    volume_size: int = GiB
    # Where each volume's image file and mountpoint live; None (a test agent's default, so it
    # never writes into a live host's directory): volumes are plain Docker volumes, unsized.
    volumes_dir: Path | None = None
    # Below this much free space (Docker's data root, the volumes' filesystem), no new service
    # deploys and no new volume is made; 0: no floor.
    min_free: int = 2 * GiB
    # A container that wrote more than this to its own filesystem is stopped; 0: no watch.
    writable_layer_max: int = GiB


def disk_limits(raw: dict, source: str) -> DiskLimits:
    """DiskLimits from agent.yml's mapping (keys absent: the defaults above)."""
    values: dict = {}
    sizes = {
        "service_disk": "volume_size",
        "min_free_disk": "min_free",
        "writable_layer_max": "writable_layer_max",
    }
    for key, attr in sizes.items():
        if raw.get(key) is None:
            continue
        value = raw[key]
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            values[attr] = memory_bytes(text)
        except ValueError as err:
            message = str(err).replace("memory size", "size")
            raise DiskSettingError(f"{source}: {key} {message}, not {value!r}") from None
    if raw.get("volumes_dir"):
        path = Path(str(raw["volumes_dir"]))
        if not path.is_absolute():
            raise DiskSettingError(f"{source}: volumes_dir must be an absolute path")
        values["volumes_dir"] = path
    return DiskLimits(**values)


def shown(size: int) -> str:
    """A byte count as people read it in a message: 1.5 GiB, 32 MiB, 512 KiB, 17 bytes."""
    for unit, scale in (("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def volume_vars(service: DesiredService, default_size: int) -> dict:
    """The size of the service's volume (a filesystem of its own): the spec's resources.disk,
    else the operator's default; asked: the spec's (a smaller one than the volume has is
    refused, where the default is not: an operator lowering it shrinks nothing)."""
    d = service.definition
    if d is None or not d.volume_mount or service.deleting:
        return {}
    asked = d.resources.disk_bytes if d.resources else None
    if not (asked or default_size):
        return {}
    return {
        "sws_service_volume_size": asked or default_size,
        "sws_service_volume_size_asked": asked is not None,
    }
