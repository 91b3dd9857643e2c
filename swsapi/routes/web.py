"""The web view: one page and its script and style, served from the package (swsapi/web)."""

from pathlib import Path

from flask import Blueprint, send_from_directory

WEB = Path(__file__).resolve().parent.parent / "web"
bp = Blueprint("web", __name__, static_folder=str(WEB), static_url_path="/ui/static")

# Nothing but this origin's own files, no inline script, no framing: with the cookie session,
# an injected script or a framed page would be able to act as the user.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@bp.get("/")
@bp.get("/ui")
def page():
    """The single page; it signs in and reads everything through /v1."""
    response = send_from_directory(bp.static_folder, "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.after_request
def secure(response):
    response.headers.update(SECURITY_HEADERS)
    return response
