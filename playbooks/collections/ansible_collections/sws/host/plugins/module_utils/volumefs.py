"""A service's volume as a filesystem of its own (issue 25): a sparse image file, ext4, loop
mounted at a directory that the Docker volume binds. A full volume then fails that service's
writes alone (ENOSPC in its container), never the host's disk that the store, /var/lib/sws and
Docker share. This host's kernel has no quotas (no xfs pquota, no ext4 project quota), so a
filesystem per volume is the one hard limit it has.

Layout, in the agent's volumes_dir: `<volume>.img` (the image) and `<volume>/` (its mountpoint,
made immutable while empty: should the mount ever be missing, a container's writes fail there
instead of landing on the host's root filesystem). The Docker volume is a local one with
`type=none, o=bind, device=<mountpoint>`, so the mountpoint is all a volume needs to find its
image again. Standard library and the host's e2fsprogs and util-linux; run as root.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass

IMAGE_SUFFIX = ".img"
# mkfs.ext4: no blocks reserved for root (a tenant's volume has no root daemon to save); the
# inode tables and journal are initialised lazily by the kernel, so a 1 GiB volume is made in
# milliseconds and takes a few MiB of the host's disk until it is written.
MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1"]
# No device files and no setuid binaries from a tenant's volume on the host.
MOUNT_OPTIONS = "loop,nodev,nosuid,noatime"


class VolumeFsError(RuntimeError):
    """A volume's filesystem could not be made, mounted, grown or removed (says which, why)."""


class OnlineGrowRefused(VolumeFsError):
    """The kernel would not grow the mounted filesystem (this host's refuses EXT4 online
    resizing with EPERM): it grows unmounted, once no container runs on it (grow_offline)."""


@dataclass(frozen=True)
class VolumeFs:
    """One volume's image file and mountpoint."""

    mountpoint: str

    @classmethod
    def in_dir(cls, volumes_dir: str, volume: str) -> VolumeFs:
        return cls(os.path.join(volumes_dir, volume))

    @property
    def image(self) -> str:
        return self.mountpoint + IMAGE_SUFFIX

    def driver_opts(self) -> dict[str, str]:
        """The Docker volume's options: a bind of the mountpoint (Docker's local driver)."""
        return {"type": "none", "o": "bind", "device": self.mountpoint}

    @classmethod
    def of_volume(cls, volume: dict) -> VolumeFs | None:
        """The filesystem a Docker volume binds, or None for a plain (unsized) volume."""
        options = volume.get("Options") or {}
        device = options.get("device") or ""
        if options.get("type") != "none" or not device.endswith("/" + volume.get("Name", "")):
            return None
        return cls(device)

    def exists(self) -> bool:
        return os.path.exists(self.image)

    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def size(self) -> int:
        """The filesystem's size in bytes, from its superblock (the image file may be larger:
        a grow the kernel refused half-way)."""
        header = _run(["dumpe2fs", "-h", self.image], "read the size of")
        fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
        return int(fields["Block count"]) * int(fields["Block size"])


def make(fs: VolumeFs, size: int) -> None:
    """A new, empty filesystem of `size` bytes, mounted; whatever was left under these names (a
    purge cut short) goes first: a new volume never holds an old one's data."""
    remove(fs)
    os.makedirs(os.path.dirname(fs.mountpoint), mode=0o700, exist_ok=True)
    with open(fs.image, "xb") as image:
        image.truncate(size)
    os.chmod(fs.image, 0o600)
    _run([*MKFS, fs.image], "make the filesystem of")
    os.mkdir(fs.mountpoint, 0o755)
    _run(["chattr", "+i", fs.mountpoint], "protect the mountpoint of")
    mount(fs)
    _drop_lost_found(fs)


def _drop_lost_found(fs: VolumeFs) -> None:
    """An empty volume, as Docker's own: lost+found would stop an image's data from being
    copied in and makes servers such as PostgreSQL refuse the directory. e2fsck makes it
    again when it needs one; one holding what e2fsck found is kept."""
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(fs.mountpoint, "lost+found"))


def mount(fs: VolumeFs) -> bool:
    """Mount it unless it is; True when it was mounted now (after a reboot, say)."""
    if fs.mounted():
        return False
    if not fs.exists():
        raise VolumeFsError(f"{fs.image} is missing: the volume's data is gone")
    _run(["mount", "-o", MOUNT_OPTIONS, fs.image, fs.mountpoint], "mount")
    return True


def grow(fs: VolumeFs, size: int) -> bool:
    """Grow a mounted filesystem to `size` bytes online; True when it grew, False when it is
    that large already (it never shrinks); OnlineGrowRefused when the kernel will not."""
    if size <= fs.size():
        return False
    with open(fs.image, "r+b") as image:
        if os.fstat(image.fileno()).st_size < size:
            image.truncate(size)
    device = loop_device(fs)
    _run(["losetup", "-c", device], "tell the loop device the new size of")
    try:
        _run(["resize2fs", device], "grow")
    except VolumeFsError as err:
        raise OnlineGrowRefused(str(err)) from None
    return True


def grow_offline(fs: VolumeFs) -> None:
    """Grow the filesystem to its image file's size while unmounted. The caller makes sure no
    container runs on the volume: one that did would write to it during the resize."""
    if fs.mounted():
        _run(["umount", fs.mountpoint], "unmount")
    # resize2fs wants a freshly checked filesystem; -p mends only what is safe (1: mended).
    _run(["e2fsck", "-f", "-p", fs.image], "check", ok=(0, 1))
    _run(["resize2fs", fs.image], "grow")
    mount(fs)
    _drop_lost_found(fs)


def loop_device(fs: VolumeFs) -> str:
    """The loop device the image is attached to (it is mounted)."""
    found = _run(["losetup", "-n", "-O", "NAME", "-j", fs.image], "find the loop device of")
    devices = found.split()
    if not devices:
        raise VolumeFsError(f"{fs.image} is attached to no loop device")
    return devices[0]


def remove(fs: VolumeFs) -> None:
    """Unmount and delete the filesystem and its mountpoint; absent parts are no error."""
    if fs.mounted():
        _run(["umount", fs.mountpoint], "unmount")
    if os.path.isdir(fs.mountpoint):
        _run(["chattr", "-i", fs.mountpoint], "unprotect the mountpoint of")
        os.rmdir(fs.mountpoint)
    if os.path.exists(fs.image):
        os.unlink(fs.image)


def usage(fs: VolumeFs) -> tuple[int, int]:
    """(bytes used, bytes in all) of the mounted filesystem."""
    stat = os.statvfs(fs.mountpoint)
    total = stat.f_blocks * stat.f_frsize
    return total - stat.f_bfree * stat.f_frsize, total


def _run(command: list[str], what: str, ok: tuple[int, ...] = (0,)) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VolumeFsError(f"could not {what} the volume: {command[0]}: {err}") from None
    if done.returncode not in ok:
        lines = (done.stderr or done.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit {done.returncode}"
        raise VolumeFsError(f"could not {what} the volume: {command[0]}: {detail}")
    return done.stdout
