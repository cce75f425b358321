"""A webhook receiver on loopback (HTTPS, a self-signed certificate in a CA file the sender is
told to trust through WEBHOOK_CA_BUNDLE): it verifies every Standard Webhooks signature with
the `standardwebhooks` package, and can fail its first attempts, redirect, or answer a long
body."""

from __future__ import annotations

import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.tools.fake_graph import _certificate


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    verified: bool
    answered: int


class WebhookReceiver:
    def __init__(self, secret: str | None = None, *, fail_first: int = 0, status: int = 204) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.status = status
        self.answer_body = b""
        self.location: str | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        folder = Path(tempfile.mkdtemp(prefix="webhook-receiver-"))
        self.ca_file, key_file = _certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_port}/hooks?source=tt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[Received]:
        """Verified requests answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if r.verified and 200 <= r.answered < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = False
                if receiver.secret:
                    try:
                        Webhook(receiver.secret).verify(raw, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver._lock:
                    failing = len(receiver.received) < receiver.fail_first
                    status = 500 if failing else (302 if receiver.location else receiver.status)
                    if not verified and receiver.secret:
                        status = 401
                    receiver.received.append(
                        Received(headers.get("webhook-id", ""), orjson.loads(raw), verified, status)
                    )
                body = b"failing on purpose" if failing else receiver.answer_body
                self.send_response(status)
                if status == 302 and receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
