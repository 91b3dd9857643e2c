"""Stacks: apply several definitions at once (all or none), and a user's stacks as a whole:
list, show, stop, start and delete."""

from flask import Blueprint, g

from swsapi import stacks, store
from swsapi.applyitems import load_items
from swsapi.auth import authenticate
from swsapi.routes.services import flag, json_object
from swsapi.schemas import dump_stack, service_schema, stack_summary_schema

bp = Blueprint("stacks", __name__, url_prefix="/v1")
bp.before_request(authenticate)


@bp.post("/apply")
def apply_items():
    """Apply several definitions in one transaction: every one is stored, or none."""
    applied = store.apply_services(g.user, load_items(json_object()))
    items = [{**service_schema.dump(service), "result": result} for service, result in applied]
    return {"items": items}


@bp.get("/stacks")
def list_stacks():
    """List the caller's stacks: each with its services counted by status."""
    return {"stacks": stack_summary_schema.dump(stacks.list_stacks(g.user), many=True)}


@bp.get("/stacks/<name>")
def get_stack(name):
    """Show every service of one of the caller's stacks: status, domain, last log line."""
    return dump_stack(name, stacks.stack_services(g.user, name))


@bp.delete("/stacks/<name>")
def delete_stack(name):
    """Mark every service of the stack for removal (with ?purge=true, their volumes too)."""
    return dump_stack(name, stacks.delete_stack(g.user, name, purge=flag("purge"))), 202


@bp.post("/stacks/<name>/stop")
def stop_stack(name):
    """Stop every service of the stack (the agent stops those with a domain first)."""
    return dump_stack(name, stacks.set_stack_stopped(g.user, name, True))


@bp.post("/stacks/<name>/start")
def start_stack(name):
    """Start every stopped service of the stack (the agent starts private ones first)."""
    return dump_stack(name, stacks.set_stack_stopped(g.user, name, False))
