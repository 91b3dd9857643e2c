"""The WSGI entry point gunicorn loads (`swsapi.wsgi:app`)."""

from swsapi.app import create_app

app = create_app()
