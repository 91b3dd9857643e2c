"""A job run's container (issue 26): a copy of the service's container of its current
generation, contained as it is (image, env, user, working directory, capabilities, limits,
volume, networks), running the run's command instead of the service.

Copied from the engine's own record of that container, so the run gets exactly what the
deploy gave the service (module_utils/container.py's ServiceContainer) without a second
renderer of it. The command becomes the entrypoint and its arguments, as the engine execs them:
never a shell. It never restarts, carries the run's labels (not `<prefix>.service`: the pass's
retire and orphan steps leave it alone), and is removed once the run is recorded.
"""

from __future__ import annotations

from swsagent import collection

# HostConfig keys copied from the service's container; RestartPolicy is the run's own.
CONTAINED = (
    "NetworkMode",
    "CapDrop",
    "CapAdd",
    "SecurityOpt",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "LogConfig",
    "Mounts",
    "Init",
)


class JobStartError(RuntimeError):
    """Why a run could not start (the run's message)."""


def container_name(service: str, run_id: int) -> str:
    return f"sws-job-{service}-{run_id}"


def run_labels(prefix: str, service: str, run_id: int) -> dict[str, str]:
    return {f"{prefix}.job-run": str(run_id), f"{prefix}.job-service": service}


def create_body(service_container: dict, command: list[str], labels: dict[str, str]) -> dict:
    """The Engine API's configuration of the run's container (pure)."""
    config = service_container.get("Config") or {}
    host = service_container.get("HostConfig") or {}
    host_config = {key: host[key] for key in CONTAINED if host.get(key) is not None}
    host_config["RestartPolicy"] = {"Name": "no"}
    network = host.get("NetworkMode") or "default"
    return {
        "Image": service_container["Image"],  # the image's id: the generation's very image
        "Env": list(config.get("Env") or []),
        "User": config.get("User") or "",
        "WorkingDir": config.get("WorkingDir") or "",
        "Entrypoint": [command[0]],
        "Cmd": list(command[1:]),
        "Labels": labels,
        "StopTimeout": 2,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": {network: {}}},
    }


def other_networks(service_container: dict) -> list[str]:
    """The service's networks besides its NetworkMode (its stack's), joined without an alias:
    the stack reaches the service by name, never a run of it."""
    mode = (service_container.get("HostConfig") or {}).get("NetworkMode")
    networks = (service_container.get("NetworkSettings") or {}).get("Networks") or {}
    return sorted(name for name in networks if name != mode)


def start(engine, service_container: dict, name: str, command, labels) -> None:
    """Create and start the run's container; nothing half-made stays on failure."""
    errors = collection.engine().EngineError
    try:
        engine.create(name, create_body(service_container, list(command), labels))
        for network in other_networks(service_container):
            engine.connect(network, name, [])
        engine.start(name)
    except errors as err:
        engine.remove(name, force=True)
        raise JobStartError(f"docker could not start the run: {err}") from None


def kill(engine, name: str) -> None:
    """SIGKILL: a run past its time or stopped by its owner (its output stays readable)."""
    try:
        engine.call("POST", f"/containers/{name}/kill")
    except collection.engine().EngineError as err:
        if err.status not in (404, 409):  # gone, or not running any more
            raise


def exit_state(detail: dict | None) -> tuple[bool, int | None]:
    """(over, exit code) of a one-off container (a job run, a backup helper) from its inspect
    (None: it is gone)."""
    if detail is None:
        return True, None
    state = detail.get("State") or {}
    if state.get("Running") or state.get("Status") in ("created", "restarting"):
        return False, None
    return True, state.get("ExitCode")
