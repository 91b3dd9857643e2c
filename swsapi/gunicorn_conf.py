"""gunicorn settings for `sws-apiserver serve` (loaded with `-c python:swsapi.gunicorn_conf`).

gunicorn answers some bad requests itself, before the app sees them (a request line over
4 KiB: 414, malformed or oversized headers: 400/431), with an HTML page. Those answers are
rewritten here in the API's one error shape, so a client never has to parse anything else.
"""

import json

from gunicorn import util

from swsapi.errors import code_for_status


def write_json_error(sock, status_int, reason, mesg):
    body = json.dumps(
        {
            "error": {
                "status": status_int,
                "code": code_for_status(status_int),
                "message": f"{reason}: {mesg}" if mesg else reason,
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# The unix socket is made under this umask: 0770, nobody:nogroup. The proxies' nginx workers run
# with group nogroup to reach it; no other local user can skip the proxies (issue 25).
umask = 0o007

# gunicorn's workers call util.write_error for these answers; there is no setting for it.
util.write_error = write_json_error


def post_worker_init(worker):
    """Open log streams end when their worker is told to stop (a restart, an upgrade), rather
    than holding the shutdown for the whole graceful timeout; clients resume from the cursor."""
    from swsapi import servicelogs

    servicelogs.serving = lambda: worker.alive
