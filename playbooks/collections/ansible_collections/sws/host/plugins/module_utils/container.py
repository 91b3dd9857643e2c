"""Start a service's container, contained, on the Engine API (engine.py): what
community.docker.docker_container did for the deploy, in one process and a few requests.

The container is the one the agent named for the service's generation; its labels say which
spec and which containment it runs (the agent's observe step reads them back). An existing
container of that name with the same labels and image is kept (started if it stopped); one with
others is replaced, as docker_container replaced it. The service's volume is checked for its
owner first: a volume the store does not give this user is never mounted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

from ansible_collections.sws.host.plugins.module_utils import volumefs
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

# The log driver of every service container: bounded, and what the log shipper reads.
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}


@dataclass(frozen=True)
class ServiceContainer:
    """Everything a service container is made of (the role's sws_service_* variables)."""

    container: str
    service: str
    generation: int
    digest: str
    domain: str
    port: int
    image: str
    owner: str
    containment: str
    network: str
    # The pass always gives these (sws_pass): no second default here.
    label_prefix: str
    stop_timeout: int
    env: dict = field(default_factory=dict)
    volume_mount: str = ""
    volume_adopted: bool = False
    restart_policy: str = "unless-stopped"
    memory: int = 268435456
    cpus: str = "0.5"
    pids: int = 256
    capabilities: tuple = ()
    init: bool = False
    # The stack's private network (stacks.py in the agent): joined before the container starts,
    # under the service's name, so the stack's other services reach it as <service>:<port>.
    stack_network: str = ""
    # Sized volumes (volumefs.py): where their filesystems live ("": plain Docker volumes),
    # the size this deploy wants, and whether the spec asked for it (resources.disk: a smaller
    # size than the volume has is refused) or it is the operator's default (kept as it is).
    volumes_dir: str = ""
    volume_size: int = 0
    volume_size_asked: bool = False
    # spec.replicas (issue 28): how many containers of the generation run side by side, and
    # which one this is (the plugin makes one ServiceContainer a replica: replica_specs).
    replicas: int = 1
    replica: int = 1

    @property
    def volume(self) -> str:
        return f"{self.service}-volume"

    def labels(self) -> dict[str, str]:
        p = self.label_prefix
        return {
            f"{p}.service": self.service,
            f"{p}.generation": str(self.generation),
            f"{p}.spec-digest": self.digest,
            f"{p}.domain": self.domain,
            f"{p}.port": str(self.port),
            f"{p}.containment": self.containment,
            f"{p}.replica": str(self.replica),
        }

    def same_labels(self, ours: dict[str, str]) -> bool:
        """A container's own labels are this one's; the first replica made before replicas
        had a label counts as it (a host upgraded to replicas replaces nothing for it)."""
        wanted = self.labels()
        if self.replica == 1 and f"{self.label_prefix}.replica" not in ours:
            wanted.pop(f"{self.label_prefix}.replica")
        return ours == wanted

    def create_body(self) -> dict:
        """The Engine API's container configuration: contained as README.md "Isolation" says
        (no capability but the few common images need, never NET_RAW; no privilege gained
        through setuid binaries; memory with no swap beyond it, CPU and processes bounded)."""
        host = {
            "NetworkMode": self.network,
            "RestartPolicy": {"Name": self.restart_policy},
            "CapDrop": ["ALL"],
            "CapAdd": list(self.capabilities),
            "SecurityOpt": ["no-new-privileges"],
            "Memory": int(self.memory),
            "MemorySwap": int(self.memory),
            "NanoCpus": int(round(float(self.cpus) * 1e9)),
            "PidsLimit": int(self.pids),
            "LogConfig": LOG_CONFIG,
            "Mounts": (
                [{"Type": "volume", "Source": self.volume, "Target": self.volume_mount}]
                if self.volume_mount
                else []
            ),
        }
        if self.init:
            host["Init"] = True
        return {
            "Image": self.image,
            "Env": [f"{k}={v}" for k, v in self.env.items()],
            "Labels": self.labels(),
            "StopTimeout": int(self.stop_timeout),
            "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": {self.network: {}}},
        }


def replica_name(container: str, replica: int) -> str:
    """The first replica keeps the generation's container name, the others are <name>-r2...
    (the agent names them the same way: swsagent/desired.replica_name)."""
    return container if replica == 1 else f"{container}-r{replica}"


def replica_specs(spec: ServiceContainer) -> list[ServiceContainer]:
    """One ServiceContainer a replica of the generation, in replica order."""
    return [
        replace(spec, container=replica_name(spec.container, n), replica=n)
        for n in range(1, max(int(spec.replicas), 1) + 1)
    ]


class DeployError(RuntimeError):
    """Why the container could not be started (a short reason for the service's message)."""


def check_volume(engine: Engine, spec: ServiceContainer) -> str:
    """Make sure <service>-volume is this owner's, creating it if absent, its filesystem
    mounted and as large as asked; returns created, sized, grown, mounted, or unsized (a
    plain Docker volume, made before volumes had sizes or by an agent without volumes_dir:
    used as it is).

    The store gives the name to one user (the API refuses it to anyone else); the volume's own
    owner label is checked too, so a volume the store does not know (kept from before
    ownership was recorded) is never mounted into someone's service."""
    found = engine.volume(spec.volume)
    if found is None:
        labels = {f"{spec.label_prefix}.service": spec.service}
        labels[f"{spec.label_prefix}.owner"] = spec.owner
        if not (spec.volumes_dir and spec.volume_size):
            engine.create_volume(spec.volume, labels)
            return "created"
        fs = volumefs.VolumeFs.in_dir(spec.volumes_dir, spec.volume)
        # The Docker volume first: a pass cut short leaves a sized volume without its image,
        # which the next deploy makes (below), never an image nobody knows.
        engine.create_volume(spec.volume, labels, fs.driver_opts())
        return _volume_fs(engine, fs, spec)
    owner = (found.get("Labels") or {}).get(f"{spec.label_prefix}.owner", "")
    if owner != spec.owner and not (not owner and spec.volume_adopted):
        if owner:
            raise DeployError(f"volume {spec.volume} belongs to another user")
        raise DeployError(
            f"volume {spec.volume} was kept from before volumes had owners; its owner is"
            f" unknown, so only an administrator can purge it (DELETE /v1/volumes/{spec.volume})"
        )
    fs = volumefs.VolumeFs.of_volume(found)
    return "unsized" if fs is None else _volume_fs(engine, fs, spec)


def _volume_fs(engine: Engine, fs: volumefs.VolumeFs, spec: ServiceContainer) -> str:
    """The sized volume's filesystem made (absent), mounted (after a reboot) and grown."""
    try:
        if not fs.exists():
            volumefs.make(fs, spec.volume_size)
            return "created"
        did = "mounted" if volumefs.mount(fs) else "sized"
        have = fs.size()
        if spec.volume_size_asked and spec.volume_size < have:
            raise DeployError(
                f"spec.resources.disk asks for {spec.volume_size} bytes but volume"
                f" {spec.volume} has {have} already, and a volume never shrinks: ask for at"
                f" least {have}, or delete the service with --purge to start again"
            )
        return "grown" if _grow(engine, fs, spec) else did
    except volumefs.VolumeFsError as err:
        raise DeployError(f"volume {spec.volume}: {err}") from None


def _grow(engine: Engine, fs: volumefs.VolumeFs, spec: ServiceContainer) -> bool:
    try:
        return volumefs.grow(fs, spec.volume_size)
    except volumefs.OnlineGrowRefused:
        # Unmounted, then: only while nothing runs on it (a recreate's older generation is
        # stopped by now; a rolling update's still serves from it).
        users = engine.call(
            "GET", "/containers/json", params={"filters": json.dumps({"volume": [spec.volume]})}
        )
        if users:
            names = ", ".join(n.lstrip("/") for u in users for n in u.get("Names", [])[:1])
            raise DeployError(
                f"volume {spec.volume} can grow only while no container runs on it (this"
                f" host's kernel cannot grow a mounted filesystem) and {names} does:"
                " use spec.update: recreate"
            ) from None
        volumefs.grow_offline(fs)
        return True


def ensure_started(engine: Engine, spec: ServiceContainer) -> str:
    """Start the container (its volume checked first: check_volume); returns what was done:
    created, replaced, started or unchanged."""
    image = engine.image(spec.image)
    if image is None:
        raise DeployError(f"image {spec.image} is not on this host")
    existing = engine.inspect(spec.container)
    did = "created"
    if existing is not None:
        # Only our labels: the engine adds the image's own to the container's.
        labels = (existing.get("Config") or {}).get("Labels") or {}
        ours = {k: v for k, v in labels.items() if k.startswith(spec.label_prefix + ".")}
        same = spec.same_labels(ours) and existing.get("Image") == image.get("Id")
        if same and (existing.get("State") or {}).get("Running"):
            return "unchanged"
        if same:
            engine.start(spec.container)
            return "started"
        engine.remove(spec.container, force=True)
        did = "replaced"
    try:
        engine.create(spec.container, spec.create_body())
        if spec.stack_network:
            engine.connect(spec.stack_network, spec.container, [spec.service])
        engine.start(spec.container)
    except EngineError as err:
        # Nothing half-made stays: the old generation keeps serving alone.
        engine.remove(spec.container, force=True)
        raise DeployError(f"docker could not start the container: {err}") from None
    return did


def start_again(engine: Engine, container: str) -> None:
    """Start an older generation's stopped container again (a recreate whose new generation
    failed: the new one is gone already, so the volume still has one writer)."""
    try:
        engine.start(container)
    except EngineError as err:
        if err.status != 304:  # 304: it runs already
            raise DeployError(f"docker could not start {container} again: {err}") from None


def stop_within(engine: Engine, containers: list[str], stop_timeout: int, wait: float) -> list[str]:
    """Stop a recreate's older containers (kept), each within its stop timeout, waiting for
    them at most `wait` seconds in all; returns those still running then. Their stop goes on in
    the engine (dockerd finishes a stop whose caller left) and the retire step stops them again
    in the background, so nothing waits for a slow one's timeout here."""
    deadline = time.monotonic() + max(wait, 0.0)
    still = []
    for name in containers:
        left = deadline - time.monotonic()
        try:
            if left > 0.05:
                engine.stop(name, stop_timeout, wait=left)
        except EngineError as err:
            if err.status is not None:  # an answer, not our own wait running out
                raise DeployError(f"docker could not stop {name}: {err}") from None
        detail = engine.inspect(name)
        if detail is not None and (detail.get("State") or {}).get("Running"):
            still.append(name)
    return still
