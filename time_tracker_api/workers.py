"""The gunicorn worker of the API (`worker_class` in gunicorn.conf.py).

- gevent: a connection is a greenlet, not one of a few threads, so clients that send their
  headers or bodies slowly (slowloris) hold only themselves, never the workers; the store
  drivers (psycopg, requests for Cosmos, Graph and the JWKS) cooperate with it.
- gunicorn's own answers (a request line or headers too long, 414/431; a malformed request,
  400) are JSON like every other answer of the service, never an HTML page.
- Once the app is loaded, its objects (about 114,000: modules, the spec, the models) leave the
  garbage collector's view (`gc.freeze`) and the youngest generation is collected every
  10,000 allocations instead of 700: a list of 200 entries spent 180 µs a request in the
  collector, mostly walking the app's own objects in a full collection, and 12 µs after (TT-17).
"""

from __future__ import annotations

import gc
from typing import Any

import orjson
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    body = orjson.dumps({"message": f"{reason}: {mesg}" if mesg else reason})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin1") + body)


#: gc thresholds of a worker (generation 0 allocations, then collections of the younger one).
GC_THRESHOLDS = (10_000, 20, 20)


def settle_heap() -> None:
    """What the loaded app allocated is kept for the worker's life: the collector need not
    walk it again and again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class ApiWorker(GeventWorker):
    def load_wsgi(self) -> None:
        super().load_wsgi()
        settle_heap()

    def init_process(self) -> None:
        # gunicorn offers no hook for its error pages; its workers call util.write_error.
        util.write_error = write_json_error
        super().init_process()
