"""The helper containers that copy a volume into a backup and a backup back into a volume
(issue 27). The service's own image is no help (it may have no tar, or no shell): the host's
small Debian base (sws.yml's python image, built by the bootstrap) has tar and gzip.

Each helper sees only what it needs: the volume (read-only for a copy) and one directory or
one file of backups; no network, no new privileges, a handful of capabilities. A copy writes
`.partial-<id>.tar` and its sha256 beside it; the agent renames it to `<id>.tar` only
once the helper exited 0, so a crash leaves no half backup that is listed or downloaded.
A restore reads the whole archive once before it empties the volume: a broken upload fails
with the volume untouched.
"""

from __future__ import annotations

from swsagent import collection

# No compression: bench/backup.py (1 GB, half random, half text, 2 cores) copied 164 MB/s
# plain and 59 MB/s through gzip -1 (52 with -6): gzip is the bottleneck, one core for it
# alone, and the image has no parallel or faster compressor. A restore reads .tar.gz too.
COPY_SCRIPT = (
    "set -euo pipefail; tar --numeric-owner -C /data -cf - . "
    '| tee "/out/$PARTIAL" | sha256sum > "/out/$PARTIAL.sha256"'
)
RESTORE_SCRIPT = (
    "set -euo pipefail; tar -tf /in/backup > /dev/null; "
    "find /data -mindepth 1 -delete; "
    "tar --numeric-owner -C /data -xpf /in/backup"
)


class HelperError(RuntimeError):
    """Why a helper could not start (the backup's or restore's message)."""


def partial_name(backup_id: int) -> str:
    return f".partial-{backup_id}.tar"


def container_name(kind: str, op_id: int) -> str:
    return f"sws-{kind}-{op_id}"


def labels(prefix: str, kind: str, op_id: int, service: str) -> dict[str, str]:
    # Not <prefix>.service: the pass's retire and orphan steps leave a helper alone.
    return {f"{prefix}.{kind}": str(op_id), f"{prefix}.backup-service": service}


def _body(image: str, script: str, mounts: list[dict], env: list[str], caps, labels_) -> dict:
    return {
        "Image": image,
        "Entrypoint": ["bash", "-c", script],
        "Cmd": [],
        "Env": env,
        "User": "0",
        "Labels": labels_,
        "HostConfig": {
            "Mounts": mounts,
            "NetworkMode": "none",
            "RestartPolicy": {"Name": "no"},
            "SecurityOpt": ["no-new-privileges"],
            "CapDrop": ["ALL"],
            "CapAdd": list(caps),
        },
    }


def copy_body(image: str, volume: str, out_dir: str, backup_id: int, labels_: dict) -> dict:
    """The copy: the volume read-only at /data, the service's backups directory at /out."""
    mounts = [
        {"Type": "volume", "Source": volume, "Target": "/data", "ReadOnly": True},
        {"Type": "bind", "Source": out_dir, "Target": "/out"},
    ]
    env = [f"PARTIAL={partial_name(backup_id)}"]
    # DAC_READ_SEARCH: read every file of the volume whatever its owner and mode.
    return _body(image, COPY_SCRIPT, mounts, env, ["DAC_READ_SEARCH"], labels_)


def restore_body(image: str, volume: str, archive: str, labels_: dict) -> dict:
    """The restore: the archive read-only, the volume emptied and filled from it, owners and
    modes as they were copied."""
    mounts = [
        {"Type": "volume", "Source": volume, "Target": "/data"},
        {"Type": "bind", "Source": archive, "Target": "/in/backup", "ReadOnly": True},
    ]
    caps = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID"]
    return _body(image, RESTORE_SCRIPT, mounts, [], caps, labels_)


def start(engine, name: str, body: dict) -> None:
    """Create and start a helper; nothing half-made stays on failure."""
    errors = collection.engine().EngineError
    try:
        engine.remove(name, force=True)  # a leftover of a killed agent
        engine.create(name, body)
        engine.start(name)
    except errors as err:
        engine.remove(name, force=True)
        raise HelperError(f"docker could not start the helper: {err}") from None
