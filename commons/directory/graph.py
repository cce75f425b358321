"""The directory in Microsoft Graph (Azure AD B2C): app-only token through msal (cached until
it expires), roles as B2C extension attributes, groups through Graph, paging followed,
timeouts everywhere. Graph failures become 502/503 domain errors; the service starts even
when Graph is unreachable (nothing is called before the first request that needs it)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterator
from typing import Any

import requests

from commons.config import Settings
from commons.data_access_layer.events import Actor
from commons.directory import ROLE_GROUPS, ROLE_IDS, User, role_value, shaped
from commons.domain.errors import BadGateway, Invalid, NotFound, Unavailable

TIMEOUT = (3.05, 10)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _object_id(user_id: str) -> str:
    """Directory object ids are GUIDs; anything else is no user (and never reaches a URL)."""
    if not _GUID.match(user_id):
        raise NotFound("User not found")
    return user_id


#: How long listings, admin checks and e-mails read from Graph are trusted.
CACHE_TTL_S = 60.0


class GraphDirectory:
    external = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.endpoint = (settings.ms_endpoint or "").rstrip("/")
        self.role_attributes = {"admin": settings.ms_role_attribute, "test": settings.ms_test_role_attribute}
        self._msal: Any = None
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._cache: dict[Any, tuple[float, Any]] = {}
        #: Forgets so far: what a load that a forget overtook read is answered, not kept.
        self._forgets = 0

    # plumbing ----------------------------------------------------------------------------

    def _token(self) -> str:
        with self._lock:
            if self._msal is None:
                import msal

                try:
                    self._msal = msal.ConfidentialClientApplication(
                        self.settings.ms_client_id,
                        authority=self.settings.ms_authority,
                        client_credential=self.settings.ms_secret,
                        timeout=TIMEOUT,
                        # The authority is our own configuration (often B2C), not a value to
                        # look up in Microsoft's public instance list.
                        instance_discovery=False,
                        validate_authority=False,
                    )
                except (requests.RequestException, ValueError) as error:
                    raise Unavailable("The user directory is unreachable; try again shortly") from error
        try:
            result = self._msal.acquire_token_for_client(scopes=[self.settings.ms_scope])
        except requests.RequestException as error:
            raise Unavailable("The user directory is unreachable; try again shortly") from error
        if "access_token" not in result:
            raise BadGateway(f"The user directory refused the service's credentials: {result.get('error')}")
        return str(result["access_token"])

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        if not url.startswith("http"):
            url = f"{self.endpoint}/{url.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._session.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as error:
            raise Unavailable("The user directory is unreachable; try again shortly") from error
        if response.status_code == 404:
            raise NotFound("User not found")
        if response.status_code in (429, 503, 504):
            raise Unavailable("The user directory is busy; try again shortly")
        if response.status_code >= 400:
            raise BadGateway(f"The user directory answered {response.status_code}")
        return response.json() if response.content else None

    def _pages(self, url: str) -> Iterator[dict[str, Any]]:
        while url:
            page = self._call("GET", url)
            yield from page.get("value", [])
            url = page.get("@odata.nextLink")

    def _cached(self, key: Any, load: Any) -> Any:
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        forgets = self._forgets
        value = load()
        if self._forgets == forgets:  # else a change may have landed after `load` read
            self._cache[key] = (time.monotonic() + CACHE_TTL_S, value)
        return value

    def _forget(self, *keys: Any) -> None:
        self._forgets += 1
        for key in keys:
            self._cache.pop(key, None)

    # the directory -------------------------------------------------------------------------

    def _select(self) -> str:
        return ",".join(["id", "displayName", "mail", "otherMails", *self.role_attributes.values()])

    def _groups(self) -> dict[str, tuple[str, set[str]]]:
        """Group id -> (name, member ids), one paged call, cached."""

        def load() -> dict[str, tuple[str, set[str]]]:
            url = "groups?$select=id,displayName&$expand=members($select=id)"
            return {g["id"]: (g["displayName"], {m["id"] for m in g.get("members", [])}) for g in self._pages(url)}

        return self._cached("groups", load)  # type: ignore[no-any-return]

    def _user(self, raw: dict[str, Any]) -> User:
        roles = [value for value in (raw.get(attr) for attr in self.role_attributes.values()) if value]
        email = raw.get("mail") or next(iter(raw.get("otherMails") or []), None)
        groups = [name for name, members in self._groups().values() if raw["id"] in members]
        return shaped(
            {"id": raw["id"], "name": raw.get("displayName"), "email": email, "roles": roles, "groups": groups}
        )

    def seen(self, actor: Actor) -> None:
        return None

    def list_users(self, actor: Actor) -> list[User]:
        users = self._cached("users", lambda: [self._user(u) for u in self._pages(f"users?$select={self._select()}")])
        if self.is_tester(actor):
            return list(users)
        return [u for u in users if role_value("test") not in u["roles"]]

    def _read_user(self, user_id: str) -> User:
        return self._user(self._call("GET", f"users/{_object_id(user_id)}?$select={self._select()}"))

    def get_user(self, actor: Actor, user_id: str) -> User:
        """A user; test users exist only for testers (as in the listing)."""
        user = self._read_user(user_id)
        if role_value("test") in user["roles"] and user_id != actor.user_id and not self.is_tester(actor):
            raise NotFound("User not found")
        return user

    def is_tester(self, actor: Actor) -> bool:
        try:
            return role_value("test") in self._read_user(actor.user_id)["roles"]
        except (NotFound, Unavailable, BadGateway):
            return False

    def set_role(self, actor: Actor, user_id: str, role_id: str, granted: bool) -> User:
        value = role_value(role_id)
        self._call(
            "PATCH", f"users/{_object_id(user_id)}", json={self.role_attributes[role_id]: value if granted else None}
        )
        self._forget("users")
        return self._read_user(user_id)

    def change_group(self, actor: Actor, user_id: str, group: str, member: bool) -> User:
        if group in ROLE_GROUPS:
            return self.set_role(actor, user_id, ROLE_IDS[group], member)
        found = self._call(
            "GET",
            "groups",
            params={"$filter": f"displayName eq '{group.replace(chr(39), chr(39) * 2)}'", "$select": "id"},
        )
        if not found.get("value"):
            raise Invalid(f"Unknown group {group!r}")
        group_id = found["value"][0]["id"]
        user_id = _object_id(user_id)
        try:
            if member:
                body = {"@odata.id": f"{self.endpoint}/directoryObjects/{user_id}"}
                self._call("POST", f"groups/{group_id}/members/$ref", json=body)
            else:
                self._call("DELETE", f"groups/{group_id}/members/{user_id}/$ref")
        except (BadGateway, NotFound):
            # Graph answers 400 for "already a member" and 404 for "not a member": the wanted
            # state holds, unless the user itself does not exist.
            self._read_user(user_id)
        self._forget("groups", "users")
        return self._read_user(user_id)

    def is_admin(self, actor: Actor) -> bool:
        """Asked of Graph each time a rule needs it (no per-process cache a revoke could outlive)."""
        try:
            return role_value("admin") in self._read_user(actor.user_id)["roles"]
        except NotFound:
            return False

    def emails(self, actor: Actor, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        known: dict[str, str] = {}
        missing = []
        for user_id in wanted:
            hit = self._cache.get(("email", user_id))
            if hit and hit[0] > time.monotonic():
                known[user_id] = hit[1]
            else:
                missing.append(user_id)
        for start in range(0, len(missing), 1000):
            chunk = missing[start : start + 1000]
            found = self._call("POST", "directoryObjects/getByIds", json={"ids": chunk, "types": ["user"]})
            for raw in found.get("value", []):
                email = raw.get("mail") or next(iter(raw.get("otherMails") or []), None)
                if email:
                    known[raw["id"]] = email
                    self._cache[("email", raw["id"])] = (time.monotonic() + CACHE_TTL_S, email)
        return known
