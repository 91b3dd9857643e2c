"""A service container task's arguments (the role's sws_service_* variables as the deploy task
hands them over) as a ServiceContainer and the task's own options. One reading for both
executors: the service_container plugin (this host's engine) and swarm_generation (the swarm).
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.sws.host.plugins.module_utils.container import ServiceContainer

FIELDS = set(ServiceContainer.__dataclass_fields__)
# The pass always gives these (sws_pass), so they have no default here.
REQUIRED = {"label_prefix", "stop_timeout", "ready_timeout"}


class TaskArgsError(ValueError):
    """The task's arguments are incomplete or unknown (the task's message)."""


@dataclass
class TaskOptions:
    """The task's options that are not the container's own."""

    ready_timeout: float
    path: str | None
    # A recreate (spec.update): the older generation's container, stopped before this one
    # starts (stop_first: still running, stopped here within stop_wait seconds); started
    # again if this one fails.
    fallback: str | None
    stop_first: list
    stop_wait: float
    env: dict
    auth: dict | None
    allowed: list
    pull: bool

    @classmethod
    def take(cls, args: dict, task_vars: dict) -> TaskOptions:
        return cls(
            ready_timeout=float(args.pop("ready_timeout")),
            path=args.pop("path", None) or None,
            fallback=args.pop("fallback", None) or None,
            stop_first=list(args.pop("stop_first", None) or []),
            stop_wait=float(args.pop("stop_wait", 0) or 0),
            # Read here, never passed as an argument: no event or log line carries the values.
            env=task_vars.get(args.pop("env_from", ""), None) or {},
            # The owner's registry credentials, the same way (module_utils/imagepull.py).
            auth=task_vars.get(args.pop("registry_auth_from", ""), None) or None,
            allowed=[str(a) for a in args.pop("registries_allowed", None) or []],
            pull=flag(args.pop("pull", True)),
        )


def take(args: dict, task_vars: dict) -> tuple[ServiceContainer, TaskOptions]:
    """The container and the options the task asks for; TaskArgsError names what is missing
    or unknown. `args` is consumed (a copy of the task's)."""
    missing = sorted(REQUIRED - set(args))
    if missing:
        raise TaskArgsError(f"missing required options: {missing}")
    options = TaskOptions.take(args, task_vars)
    unknown = set(args) - FIELDS
    if unknown:
        raise TaskArgsError(f"unknown options: {sorted(unknown)}")
    return service_container(args, options.env), options


def service_container(args: dict, env: dict) -> ServiceContainer:
    """The container the task asks for, its options as the template handed them over."""
    args["capabilities"] = tuple(args.get("capabilities") or ())
    args["volume_size"] = int(args.get("volume_size") or 0)
    args["replicas"] = int(args.get("replicas") or 1)
    args.pop("replica", None)  # which replica is the plugin's to say (replica_specs)
    args["volume_size_asked"] = flag(args.get("volume_size_asked"))
    args["env"] = {str(k): str(v) for k, v in env.items()}
    return ServiceContainer(**args)


def flag(value) -> bool:
    """A boolean option as the template may hand it over ("True", "false", True)."""
    return value is True or str(value).lower() in ("true", "yes", "1")
