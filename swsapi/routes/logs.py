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
    service_id, owner_id = service.id, g.user.id
    return follow_response(
        lambda stream_id: servicelogs.follow(service_id, owner_id, query, stream_id)
    )


def follow_response(follow) -> Response:
    """An NDJSON stream for the caller, for as long as follow(stream_id) yields lines: a thread
    of this worker (503 when it lends streams no more) and one of the host's slots (429 past
    the user's share, 503 when the host is full) are taken, and given back when it ends. The
    request's database connection goes back to the pool first: a stream lasts minutes."""
    threads = current_app.extensions["sws_stream_threads"]
    threads.take()
    try:
        stream_id = streamslots.open_stream(g.user.id)
    except Exception:
        threads.give_back()
        raise
    db.session.close()

    def lines():
        try:
            yield from follow(stream_id)
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
