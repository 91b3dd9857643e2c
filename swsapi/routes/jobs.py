"""Jobs (issue 26): run a command beside a service, list its runs, stop one, read its output."""

from flask import Blueprint, g, request

from swsapi import joblogs, jobs
from swsapi.auth import authenticate
from swsapi.errors import invalid_request
from swsapi.extensions import db
from swsapi.queryargs import whole_number
from swsapi.routes.logs import follow_response
from swsapi.routes.services import json_object

bp = Blueprint("jobs", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


@bp.post("/<name>/jobs")
def start_run(name):
    """Run a command in a one-off container of the service's current generation."""
    return jobs.run_dict(jobs.start_run(g.user, name, json_object())), 201


@bp.get("/<name>/jobs")
def list_runs(name):
    """The service's runs, newest first, and its scheduled jobs."""
    limit = _number("limit", 1, jobs.LIST_MAX, jobs.LIST_DEFAULT)
    service, runs = jobs.list_runs(g.user, name, limit, request.args.get("job"))
    scheduled = service.spec.get("jobs") or []
    return {"name": service.name, "jobs": scheduled, "runs": [jobs.run_dict(r) for r in runs]}


@bp.get("/<name>/jobs/<int:run_id>")
def get_run(name, run_id):
    """One run: its state, start, end and exit code."""
    return jobs.run_dict(jobs.get_run(g.user, name, run_id))


@bp.post("/<name>/jobs/<int:run_id>/stop")
def stop_run(name, run_id):
    """Ask the agent to stop the run (Ctrl-C of `swsctl run`)."""
    return jobs.run_dict(jobs.stop_run(g.user, name, run_id)), 202


@bp.get("/<name>/jobs/<int:run_id>/logs")
def run_logs(name, run_id):
    """The run's output after a cursor; with follow=true, streamed until the run is over."""
    run = jobs.get_run(g.user, name, run_id)
    after = _number("after", 0, 2**63 - 1, 0)
    follow = request.args.get("follow", "false")
    if follow not in ("true", "1", "false", "0"):
        raise invalid_request("invalid follow", {"follow": "must be true, false, 1 or 0"})
    if follow in ("false", "0"):
        page = joblogs.read_page(db.session.connection(), run.id, after)
        return {**page, "run": jobs.run_dict(run)}
    run_id = run.id
    return follow_response(lambda stream_id: joblogs.follow(run_id, after, stream_id))


def _number(name: str, low: int, high: int, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise invalid_request(f"invalid {name}", {name: f"a whole number from {low} to {high}"})
    return value
