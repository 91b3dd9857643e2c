"""Jobs (issue 26) as the apiserver writes them: a one-off run asked for, a stop asked for,
and the caller's runs read back. The agent starts, stops and records the runs (swsagent/jobs);
the apiserver never touches Docker. Every change sends NOTIFY like an apply, so the watching
agent starts a run within its debounce."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from swsapi import store
from swsapi.errors import ApiError, conflict, invalid_request, not_found
from swsapi.extensions import db
from swsapi.models import JOB_UNFINISHED, JobRun, Service, User
from swscore.contract import ServiceStatus
from swscore.spec import API_VERSION, SpecError, duration_in_seconds, load_definition
from swscore.specfields import DURATION_RE
from swscore.specjobs import RECREATE_REFUSAL, Command

LIST_DEFAULT = 20
LIST_MAX = 200


def start_run(owner: User, name: str, body: dict) -> JobRun:
    """A one-off run of `command` beside the caller's service, pending until the agent starts
    it; 409 when the service cannot have one now, 429 past SWS_MAX_JOB_RUNS unfinished."""
    service = store.get_service(owner, name, for_update=True)
    run = add_run(service, body)
    store.notify(service.name, "job")
    db.session.commit()
    return run


def add_run(service: Service, body: dict) -> JobRun:
    """The run, inside the caller's transaction (a backup's dump adds one too)."""
    name = service.name
    command, timeout = _request(body)
    _check_runnable(service)
    unfinished = db.session.scalar(
        select(func.count())
        .select_from(JobRun)
        .where(JobRun.service_id == service.id, JobRun.state.in_(JOB_UNFINISHED))
    )
    most = current_app.config["SWS_MAX_JOB_RUNS"]
    if unfinished >= most:
        raise ApiError(
            429, "too_many_runs", f"{name} has {unfinished} runs not finished (at most {most})"
        )
    run = JobRun(service_id=service.id, command=command, timeout_seconds=timeout)
    db.session.add(run)
    db.session.flush()
    return run


def _request(body: dict) -> tuple[list[str], int]:
    unknown = set(body) - {"command", "timeout"}
    if unknown:
        raise invalid_request("unknown field(s)", {key: "unknown field" for key in unknown})
    try:
        command = Command(required=True).deserialize(body.get("command"))
    except Exception as err:  # marshmallow's ValidationError: its messages name the problem
        messages = getattr(err, "messages", str(err))
        raise invalid_request("invalid command", {"command": str(messages)}) from None
    config = current_app.config
    timeout = config["SWS_JOB_TIMEOUT"]
    raw = body.get("timeout")
    if raw is not None:
        if isinstance(raw, bool) or not (
            isinstance(raw, int) or (isinstance(raw, str) and DURATION_RE.match(raw))
        ):
            raise invalid_request("invalid timeout", {"timeout": "a duration such as 300 or 5m"})
        timeout = duration_in_seconds(raw)
    if not 1 <= timeout <= config["SWS_MAX_JOB_TIMEOUT"]:
        raise invalid_request(
            "invalid timeout",
            {"timeout": f"must be from 1 to {config['SWS_MAX_JOB_TIMEOUT']} seconds on this host"},
        )
    return list(command), timeout


def _check_runnable(service: Service) -> None:
    """A run copies the service's container of its current generation, on its volume only
    when the volume may have two writers (swscore/specjobs.py's RECREATE_REFUSAL)."""
    if service.status == ServiceStatus.DELETING:
        raise conflict(f"service {service.name} is being deleted")
    if service.stopped or service.applied_generation == 0:
        raise conflict(f"service {service.name} has no running generation to run a command beside")
    try:
        definition = load_definition({"apiVersion": API_VERSION, "spec": service.spec})
    except SpecError:
        raise conflict(f"the spec of {service.name} is not valid under today's rules") from None
    if definition.volume_mount and definition.update_strategy == "recreate":
        raise conflict(RECREATE_REFUSAL)


def get_run(owner: User, name: str, run_id: int, for_update: bool = False) -> JobRun:
    """The caller's run; another user's is as absent as a missing one."""
    service = store.get_service(owner, name)
    query = select(JobRun).where(JobRun.id == run_id, JobRun.service_id == service.id)
    run = db.session.scalar(query.with_for_update() if for_update else query)
    if run is None:
        raise not_found(f"no run {run_id} of {name}")
    return run


def stop_run(owner: User, name: str, run_id: int) -> JobRun:
    """Ask the agent to stop the run (a pending one never starts)."""
    run = get_run(owner, name, run_id, for_update=True)
    if run.state in JOB_UNFINISHED and not run.stop_requested:
        run.stop_requested = True
        store.notify(name, "job")
    db.session.commit()
    return run


def list_runs(owner: User, name: str, limit: int = LIST_DEFAULT, job: str | None = None):
    """The service, and its newest runs first (of one scheduled job, with `job`)."""
    service = store.get_service(owner, name)
    query = select(JobRun).where(JobRun.service_id == service.id)
    if job is not None:
        query = query.where(JobRun.job == job)
    runs = list(db.session.scalars(query.order_by(JobRun.id.desc()).limit(limit)))
    return service, runs


def run_dict(run: JobRun) -> dict:
    def when(moment):
        return moment.isoformat() if moment else None

    return {
        "id": run.id,
        "job": run.job,
        "command": run.command,
        "timeout_seconds": run.timeout_seconds,
        "state": run.state,
        "scheduled_for": when(run.scheduled_for),
        "requested_at": when(run.requested_at),
        "started_at": when(run.started_at),
        "finished_at": when(run.finished_at),
        "generation": run.generation,
        "exit_code": run.exit_code,
        "message": run.message,
        "stop_requested": run.stop_requested,
    }
