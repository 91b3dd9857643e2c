"""Volumes: an administrator purges any service's kept volume (the agent removes it)."""

from flask import Blueprint, g

from swsapi import administration
from swsapi.auth import authenticate
from swsapi.schemas import volume_schema

bp = Blueprint("volumes", __name__, url_prefix="/v1/volumes")
bp.before_request(authenticate)


@bp.delete("/<name>")
def purge(name):
    """Mark a service volume (<service>-volume) for removal with its data (administrators)."""
    return volume_schema.dump(administration.purge_volume(g.user, name)), 202
