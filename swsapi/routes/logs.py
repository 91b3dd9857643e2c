"""A service's logs: a page of lines (by cursor, tail or time), or a stream that follows them."""

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from swsapi import servicelogs, store, streamslots
from swsapi.auth import authenticate
from swsapi.extensions import db

bp = Blueprint("logs", __name__, url_prefix="/v1/services")
bp.before_request(authenticate)


@bp.get("/<name>/logs")
def logs(name):
    """Read the caller's service's logs; with follow=true, stream them as they come."""
    query = servicelogs.parse_query(request.args)
    service = store.get_service(g.user, name)
    if not query.follow:
        return servicelogs.read_page(db.session.connection(), service.id, query)
    threads = current_app.extensions["sws_stream_threads"]
    threads.take()  # 503 when this worker lends streams no more of its threads
    try:
        stream_id = streamslots.open_stream(g.user.id)  # 429 past the share, 503 host full
    except Exception:
        threads.give_back()
        raise
    service_id, owner_id = service.id, g.user.id
    # A stream lasts minutes: give the request's connection back to the pool now.
    db.session.close()

    def lines():
        try:
            yield from servicelogs.follow(service_id, owner_id, query, stream_id)
        finally:
            try:
                streamslots.close_stream(stream_id)
            finally:
                threads.give_back()

    return Response(
        stream_with_context(lines()),
        mimetype="application/x-ndjson",
        # nginx would buffer the stream; the client wants each line as it comes.
        headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"},
    )
