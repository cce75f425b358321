"""WSGI entry point: `gunicorn api:app`."""

from time_tracker_api import create_app

app = create_app()
