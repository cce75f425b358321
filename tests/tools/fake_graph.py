"""A small Microsoft-Graph-shaped HTTPS server on loopback, for the directory tests.

It serves the identity platform's token endpoint (client credentials) and the Graph calls
the directory makes: users (paged), one user, PATCH of role attributes, groups with members,
member add/remove. `fail_with` and `delay` inject faults. Its self-signed certificate is
written to a CA file that the client trusts through REQUESTS_CA_BUNDLE (never "verify off").
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROLE = "extension_0000_role"
ROLE_TEST = "extension_0000_role_test"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "graph.pem", folder / "graph.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class FakeGraph:
    def __init__(self, page_size: int = 2) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []
        self.page_size = page_size
        self.fail_with: int | None = None
        self.delay = 0.0
        folder = Path(tempfile.mkdtemp(prefix="fake-graph-"))
        self.ca_file, key_file = _certificate(folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def authority(self) -> str:
        return f"{self.base}/tenant-1"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/v1.0"

    def add_user(self, name: str, email: str, **attributes: Any) -> str:
        user_id = str(uuid.uuid4())
        self.users[user_id] = {"id": user_id, "displayName": name, "mail": email, "otherMails": [email], **attributes}
        return user_id

    def add_group(self, name: str, *members: str) -> str:
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {"id": group_id, "displayName": name, "members": list(members)}
        return group_id

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        graph = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return raw

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                graph.requests.append((method, self.path))
                raw = self._body()
                if graph.delay:
                    time.sleep(graph.delay)
                if url.path.endswith("/.well-known/openid-configuration"):
                    tenant = url.path.split("/")[1]
                    return self._send(
                        200,
                        {
                            "token_endpoint": f"{graph.base}/{tenant}/oauth2/v2.0/token",
                            "authorization_endpoint": f"{graph.base}/{tenant}/oauth2/v2.0/authorize",
                            "issuer": f"{graph.base}/{tenant}/v2.0",
                        },
                    )
                if url.path.endswith("/oauth2/v2.0/token"):
                    graph.token_requests += 1
                    return self._send(200, {"access_token": "graph-token", "token_type": "Bearer", "expires_in": 3600})
                if self.headers.get("Authorization") != "Bearer graph-token":
                    return self._send(401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}})
                if graph.fail_with:
                    return self._send(graph.fail_with, {"error": {"code": "Boom", "message": "injected"}})
                parts = [p for p in url.path.split("/") if p][1:]  # after v1.0
                query = parse_qs(url.query)
                if parts == ["directoryObjects", "getByIds"] and method == "POST":
                    ids = json.loads(raw)["ids"]
                    return self._send(200, {"value": [graph.users[i] for i in ids if i in graph.users]})
                if parts == ["users"] and method == "GET":
                    return self._page(list(graph.users.values()), query, "users")
                if len(parts) == 2 and parts[0] == "users":
                    user = graph.users.get(parts[1])
                    if user is None:
                        return self._send(404, {"error": {"code": "Request_ResourceNotFound", "message": "no user"}})
                    if method == "GET":
                        return self._send(200, user)
                    if method == "PATCH":
                        user.update(json.loads(raw))
                        return self._send(204)
                if parts == ["groups"] and method == "GET":
                    groups = list(graph.groups.values())
                    flt = query.get("$filter", [""])[0]
                    if flt.startswith("displayName eq "):
                        wanted = flt.split("'")[1]
                        groups = [g for g in groups if g["displayName"] == wanted]
                    shaped = [
                        {"id": g["id"], "displayName": g["displayName"], "members": [{"id": m} for m in g["members"]]}
                        for g in groups
                    ]
                    return self._page(shaped, query, "groups")
                if (
                    len(parts) == 4
                    and parts[0] == "groups"
                    and parts[2] == "members"
                    and parts[3] == "$ref"
                    and method == "POST"
                ):
                    member = json.loads(raw)["@odata.id"].rsplit("/", 1)[-1]
                    group = graph.groups[parts[1]]
                    if member in group["members"]:
                        return self._send(400, {"error": {"code": "Request_BadRequest", "message": "already a member"}})
                    group["members"].append(member)
                    return self._send(204)
                if (
                    len(parts) == 5
                    and parts[0] == "groups"
                    and parts[2] == "members"
                    and parts[4] == "$ref"
                    and method == "DELETE"
                ):
                    group = graph.groups[parts[1]]
                    if parts[3] not in group["members"]:
                        return self._send(
                            404, {"error": {"code": "Request_ResourceNotFound", "message": "not a member"}}
                        )
                    group["members"].remove(parts[3])
                    return self._send(204)
                return self._send(404, {"error": {"code": "NotFound", "message": self.path}})

            def _page(self, items: list[Any], query: dict[str, list[str]], what: str) -> None:
                skip = int(query.get("$skiptoken", ["0"])[0])
                page = items[skip : skip + graph.page_size]
                body: dict[str, Any] = {"value": page}
                if skip + graph.page_size < len(items):
                    body["@odata.nextLink"] = f"{graph.endpoint}/{what}?$skiptoken={skip + graph.page_size}"
                self._send(200, body)

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_PATCH(self) -> None:  # noqa: N802
                self._route("PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

        return Handler
