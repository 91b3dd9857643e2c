"""A service's history: the spec of each of its last generations, kept for rollback.

A row is written in the transaction that makes the generation, and the oldest rows beyond
SWS_HISTORY_KEPT are dropped there too, so the history is bounded without any cleanup job.
Rows go with the service's record (ON DELETE CASCADE) when the agent forgets a deleted service.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, select

from swsapi.errors import conflict, invalid_request, not_found
from swsapi.extensions import db
from swsapi.models import Service, ServiceGeneration


def record(service: Service, cause: str, rolled_back_to: int | None = None) -> None:
    """Keep the service's new generation; drop what falls out of the kept window."""
    db.session.add(
        ServiceGeneration(
            service_id=service.id,
            generation=service.generation,
            spec=service.spec,
            spec_digest=service.spec_digest,
            cause=cause,
            rolled_back_to=rolled_back_to,
        )
    )
    kept = current_app.config["SWS_HISTORY_KEPT"]
    if service.generation <= kept:
        return  # nothing can have fallen out yet: spare the query
    db.session.execute(
        delete(ServiceGeneration).where(
            ServiceGeneration.service_id == service.id,
            ServiceGeneration.generation <= service.generation - kept,
        )
    )


def generations(service: Service) -> list[ServiceGeneration]:
    """The kept generations, newest first."""
    return list(
        db.session.scalars(
            select(ServiceGeneration)
            .where(ServiceGeneration.service_id == service.id)
            .order_by(ServiceGeneration.generation.desc())
        )
    )


def rollback_target(service: Service, generation: int | None) -> ServiceGeneration:
    """The kept generation to roll back to: the one asked for, or by default the newest
    earlier generation whose spec differs from the current one (a restart in between
    repeats a spec, and rolling back to it would change nothing)."""
    query = select(ServiceGeneration).where(ServiceGeneration.service_id == service.id)
    if generation is not None:
        if generation > service.generation:
            raise invalid_request(
                f"generation {generation} is newer than {service.name}'s current "
                f"generation {service.generation}",
                {"generation": f"must be at most {service.generation}"},
            )
        target = db.session.scalar(query.where(ServiceGeneration.generation == generation))
        if target is None:
            raise not_found(
                f"generation {generation} of {service.name} is not kept any more; "
                "its history lists the kept ones"
            )
        return target
    target = db.session.scalar(
        query.where(
            ServiceGeneration.generation < service.generation,
            ServiceGeneration.spec_digest != service.spec_digest,
        )
        .order_by(ServiceGeneration.generation.desc())
        .limit(1)
    )
    if target is None:
        raise conflict(
            f"{service.name} has no earlier generation with another spec to roll back to",
            {"generation": "no earlier generation with another spec is kept"},
        )
    return target
