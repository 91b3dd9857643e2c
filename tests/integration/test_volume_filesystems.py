"""Sized volumes on the real engine and kernel (issue 25): each volume a loop-mounted ext4 image
(module_utils/volumefs.py), made, filled until ENOSPC by a real container, grown, found
unmounted (a reboot), and purged, through the collection's own code (container.check_volume,
retire's purge) as the deploy and the retire plays call it.

Everything is this test's own: a volumes directory /tmp/wt-disk-*, Docker volumes and
containers named wtdisk-* under the label prefix wtdisk, all removed in a finally.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from swsagent import collection
from tests.fixtures.contract import repo_contract

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not shutil.which("docker"),
    reason="needs root, e2fsprogs and a Docker engine (loop mounts)",
)

PREFIX = "wtdisk"
MiB = 2**20
container = collection.module_utils("container")
volumefs = collection.module_utils("volumefs")
retire = collection.module_utils("retire")
Engine = collection.engine().Engine


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


@pytest.fixture(scope="module")
def shell_image() -> str:
    """An image with a shell: the host's python base image, in either mode."""
    contract = repo_contract()
    for image in (contract.offline_images_names["python"], contract.upstream_images["python"]):
        if docker("images", "-q", image).stdout.strip():
            return image
    pytest.skip("no python base image on this engine (run the bootstrap)")


@pytest.fixture
def volumes_dir():
    """A volumes directory of this test; whatever it made is unmounted and removed."""
    path = tempfile.mkdtemp(prefix="wt-disk-", dir="/tmp")
    made: list[str] = []
    try:
        yield path, made
    finally:
        for name in made:
            docker(
                "rm",
                "-f",
                *docker("ps", "-aq", "--filter", f"volume={name}").stdout.split(),
                check=False,
            )
            docker("volume", "rm", "-f", name, check=False)
            volumefs.remove(volumefs.VolumeFs.in_dir(path, name))
        shutil.rmtree(path, ignore_errors=True)


def sized(volumes_dir, service: str, size: int, asked: bool = True):
    path, made = volumes_dir
    made.append(f"{service}-volume")
    return container.ServiceContainer(
        container=f"{service}-1",
        service=service,
        generation=1,
        digest="d",
        domain="",
        port=8080,
        image="unused",
        owner="tenant",
        containment="c",
        network="none",
        label_prefix=PREFIX,
        stop_timeout=1,
        volume_mount="/data",
        volumes_dir=path,
        volume_size=size,
        volume_size_asked=asked,
    )


def write_in(image: str, volume: str, megabytes: int) -> subprocess.CompletedProcess:
    """A container writing that many MiB into the volume, as a tenant's service would."""
    name = f"{PREFIX}-writer-{uuid.uuid4().hex[:6]}"
    script = f"dd if=/dev/zero of=/data/fill-$$ bs=1M count={megabytes} && sync"
    return docker(
        "run",
        "--rm",
        "--name",
        name,
        "-v",
        f"{volume}:/data",
        image,
        "sh",
        "-c",
        script,
        check=False,
    )


def free_bytes(path: str) -> int:
    return shutil.disk_usage(path).free


def test_a_full_volume_fails_its_own_writes_only(volumes_dir, shell_image):
    engine = Engine()
    small = sized(volumes_dir, f"{PREFIX}-a{uuid.uuid4().hex[:4]}", 32 * MiB)
    other = sized(volumes_dir, f"{PREFIX}-b{uuid.uuid4().hex[:4]}", 32 * MiB)
    assert container.check_volume(engine, small) == "created"
    assert container.check_volume(engine, other) == "created"
    fs = volumefs.VolumeFs.in_dir(volumes_dir[0], small.volume)
    assert fs.mounted() and os.listdir(fs.mountpoint) == []  # no lost+found
    labels = engine.volume(small.volume)["Labels"]
    assert labels == {f"{PREFIX}.service": small.service, f"{PREFIX}.owner": "tenant"}
    root_free = free_bytes("/")

    full = write_in(shell_image, small.volume, 64)
    assert full.returncode != 0 and "No space left on device" in full.stderr
    # The other volume and the host's root filesystem still take writes; the host lost at
    # most the full volume's size (its image file's blocks).
    assert write_in(shell_image, other.volume, 4).returncode == 0
    assert root_free - free_bytes("/") < 40 * MiB or free_bytes("/") > 2**30
    used, total = volumefs.usage(fs)
    assert total <= 32 * MiB and used > total - 2 * MiB

    # Purged as the retire play does it: nothing mounted, no image, no Docker volume.
    job = retire.RetireJob(small.service, [], 1, PREFIX, purge_volume=small.volume)
    out = retire.retire_now(engine, job)
    assert out.volume_removed and not out.problems
    assert not fs.mounted() and not os.path.exists(fs.image)
    assert not os.path.exists(fs.mountpoint) and engine.volume(small.volume) is None


def test_a_volume_grows_online_and_never_shrinks(volumes_dir, shell_image):
    engine = Engine()
    spec = sized(volumes_dir, f"{PREFIX}-g{uuid.uuid4().hex[:4]}", 32 * MiB)
    container.check_volume(engine, spec)
    assert write_in(shell_image, spec.volume, 8).returncode == 0
    fs = volumefs.VolumeFs.in_dir(volumes_dir[0], spec.volume)
    bigger = sized(volumes_dir, spec.service, 64 * MiB)
    assert container.check_volume(engine, bigger) == "grown"
    assert volumefs.usage(fs)[1] > 48 * MiB
    assert container.check_volume(engine, bigger) == "sized"  # nothing to do again
    # The operator's smaller default is no request: kept as it is. The spec's is refused.
    assert container.check_volume(engine, sized(volumes_dir, spec.service, 16 * MiB, False))
    with pytest.raises(container.DeployError, match="spec.resources.disk .* never shrinks"):
        container.check_volume(engine, sized(volumes_dir, spec.service, 16 * MiB))
    assert len(os.listdir(fs.mountpoint)) == 1  # the data stayed


def test_an_unmounted_volume_takes_no_write_until_it_is_mounted_again(volumes_dir, shell_image):
    engine = Engine()
    spec = sized(volumes_dir, f"{PREFIX}-m{uuid.uuid4().hex[:4]}", 16 * MiB)
    container.check_volume(engine, spec)
    assert write_in(shell_image, spec.volume, 1).returncode == 0
    fs = volumefs.VolumeFs.in_dir(volumes_dir[0], spec.volume)
    subprocess.run(["umount", fs.mountpoint], check=True)  # what a reboot leaves
    # The empty mountpoint is immutable: the write fails, nothing lands on the root disk.
    assert write_in(shell_image, spec.volume, 1).returncode != 0
    assert os.listdir(fs.mountpoint) == []
    assert container.check_volume(engine, spec) == "mounted"
    assert len(os.listdir(fs.mountpoint)) == 1


def test_a_plain_volume_from_before_sizes_is_used_as_it_is(volumes_dir):
    engine = Engine()
    spec = sized(volumes_dir, f"{PREFIX}-p{uuid.uuid4().hex[:4]}", 16 * MiB)
    engine.create_volume(
        spec.volume, {f"{PREFIX}.service": spec.service, f"{PREFIX}.owner": "tenant"}
    )
    assert container.check_volume(engine, spec) == "unsized"
    assert not os.path.exists(volumefs.VolumeFs.in_dir(volumes_dir[0], spec.volume).image)


def test_making_a_gibibyte_volume_is_cheap(volumes_dir):
    """mkfs with lazy initialisation: milliseconds, and a few MiB of the host's disk."""
    import time

    spec = sized(volumes_dir, f"{PREFIX}-t{uuid.uuid4().hex[:4]}", 2**30)
    started = time.monotonic()
    container.check_volume(Engine(), spec)
    seconds = time.monotonic() - started
    fs = volumefs.VolumeFs.in_dir(volumes_dir[0], spec.volume)
    allocated = os.stat(fs.image).st_blocks * 512
    print(f"1 GiB volume made and mounted in {seconds:.3f} s, {allocated // MiB} MiB allocated")
    assert seconds < 5 and allocated < 64 * MiB
