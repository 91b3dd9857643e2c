"""Health (no authentication; checks the database) and the OpenAPI document."""

from functools import cache
from importlib import resources

import yaml
from flask import Blueprint
from sqlalchemy import text

from swsapi.extensions import db

bp = Blueprint("health", __name__, url_prefix="/v1")


@cache
def openapi_document() -> dict:
    return yaml.safe_load(resources.files("swsapi").joinpath("openapi/v1.yaml").read_text())


@bp.get("/health")
def health():
    """Say whether the apiserver can reach its database."""
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/openapi.json")
def openapi():
    """Serve the OpenAPI document of /v1."""
    return openapi_document()
