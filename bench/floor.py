"""The floor: a bare Flask JSON route, served by the same gunicorn settings as the API.

`gunicorn -c gunicorn.conf.py bench.floor:app`. Nothing of the API is imported: every
endpoint's CPU per request is reported as a multiple of this route's.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/")
def hello() -> Response:
    return jsonify(status="ok")
