"""Personal access tokens (service functions): create (shown once), list, revoke, and the
bearer check of a token on every request.

A token stands for its owner with the owner's rights as the directory has them when it is
used (roles are read through the store per request, never frozen into the token); read-only
tokens only read. Every use reads the token through the store, so a revoke holds at once in
every worker and process: no per-process cache can outlive it.
"""

from __future__ import annotations

from typing import Any

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Record, Store, decisions
from commons.domain import tokens
from commons.domain.clock import format_instant
from commons.domain.errors import Forbidden, Invalid, NotFound, Unauthorized
from time_tracker_api.token_inputs import TokenInput

#: Methods a read-only token may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: An expiry further away than this is refused (a token that outlives its purpose is a risk).
MAX_LIFETIME_MS = 366 * 86_400_000


def token_json(record: Record, now: int) -> dict[str, Any]:
    """The wire shape of a token (never its secret nor its digest)."""
    return {
        "id": record["id"],
        "name": record["name"],
        "owner_id": record["owner_id"],
        "owner_email": record.get("owner_email"),
        "hint": record["hint"],
        "read_only": bool(record["read_only"]),
        "expires_at": format_instant(record.get("expires_at")),
        "created_at": format_instant(record.get("created_at")),
        "last_used_at": format_instant(record.get("last_used_at")),
        "revoked_at": format_instant(record.get("revoked_at")),
        "status": _status(record, now),
    }


def _status(record: Record, now: int) -> str:
    if record.get("revoked_at") is not None:
        return "revoked"
    if record.get("expires_at") is not None and record["expires_at"] <= now:
        return "expired"
    return "active"


def _whose(identity: Actor, user_id: str) -> str:
    """`me` or an id: the caller's own tokens, or (admins) anyone's in the tenant."""
    from commons.domain.identity import require_admin

    owner = identity.user_id if user_id in ("me", identity.user_id) else user_id
    if owner != identity.user_id:
        require_admin(identity)
    return owner


def check_sign_in(via_token: bool) -> None:
    """Tokens are created with a sign-in token (JWT), never with another personal token."""
    if via_token:
        raise Forbidden("Personal access tokens are created with a sign-in token (JWT), not with another one")


def create(store: Store, identity: Actor, new: TokenInput, now: int, via_token: bool) -> dict[str, Any]:
    """A new token of the caller; the answer holds the token itself, shown this once."""
    check_sign_in(via_token)
    name, read_only, expires_at = new.name, new.read_only, new.expires_at
    if expires_at is not None:
        if expires_at <= now:
            raise Invalid("expires_at must be in the future", "expires_at")
        if expires_at - now > MAX_LIFETIME_MS:
            raise Invalid("expires_at can be at most 366 days away", "expires_at")
    raw, parsed = tokens.new_token(identity.tenant_id)
    fields = {
        "owner_id": identity.user_id,
        "owner_email": identity.email,
        "name": name,
        "digest": tokens.digest(parsed),
        "hint": tokens.hint(raw),
        "read_only": read_only,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }
    with store.unit_of_work(identity, write=True) as uow:
        live = [t for t in uow.access_tokens.list(identity.user_id) if _status(t, now) == "active"]
        if len(live) >= tokens.MAX_TOKENS_PER_USER:
            raise Invalid(f"You hold {len(live)} live tokens, the most allowed; revoke one first")
        record = uow.access_tokens.add(parsed.token_id, fields)
    return {**token_json(record, now), "token": raw}


def list_tokens(store: Store, identity: Actor, user_id: str | None, now: int) -> list[dict[str, Any]]:
    """One user's tokens (`me` for the caller's), or with None every token of the tenant (admin)."""
    if user_id is None:
        from commons.domain.identity import require_admin

        require_admin(identity)
        owner = None
    else:
        owner = _whose(identity, user_id)
    with store.unit_of_work(identity) as uow:
        return [token_json(t, now) for t in uow.access_tokens.list(owner)]


def revoke(store: Store, identity: Actor, user_id: str, token_id: str, now: int) -> None:
    """Revoke a token: refused from the next request on, in every worker."""
    owner = _whose(identity, user_id)
    # A use recording itself at the same moment may move the token on (Cosmos): decide again.
    for attempt in decisions():
        with attempt, store.unit_of_work(identity, write=True) as uow:
            try:
                found = uow.access_tokens.get(token_id)
            except NotFound:
                raise NotFound("Personal access token not found") from None
            if found["owner_id"] != owner:
                raise NotFound("Personal access token not found")
            uow.access_tokens.revoke(token_id, now)


def authenticate(store: Store, raw: str, method: str, now: int) -> tuple[Actor, Record]:
    """The owner a bearer personal access token stands for (401 when it is not a live token,
    403 when a read-only one is used to write). Read through the store on every request."""
    parsed = tokens.parse_token(raw)
    if parsed is None:
        raise Unauthorized("Malformed personal access token")
    reader = Actor(user_id="access-token", tenant_id=parsed.tenant_id)
    with store.unit_of_work(reader) as uow:
        try:
            record = uow.access_tokens.get(parsed.token_id)
        except NotFound:
            raise Unauthorized("Unknown personal access token") from None
        if not tokens.matches(parsed, record["digest"]):
            raise Unauthorized("Unknown personal access token")
        refused = tokens.usable(record, now)
        if refused:
            raise Unauthorized(refused)
        # The owner as the store last saw them sign in: a token must not put back an old
        # e-mail or erase the name the owner's JWTs keep up to date.
        try:
            seen = uow.users.get(record["owner_id"])
        except NotFound:
            seen = {}
    owner = Actor(
        user_id=record["owner_id"],
        tenant_id=parsed.tenant_id,
        email=seen.get("email") or record.get("owner_email"),
        name=seen.get("name"),
    )
    if record["read_only"] and method.upper() not in READ_METHODS:
        raise Forbidden("This personal access token is read-only")
    last = record.get("last_used_at")
    if last is None or now - last >= tokens.LAST_USE_RESOLUTION_MS:
        with store.unit_of_work(owner, write=True) as uow:
            uow.access_tokens.touch(record, now)
    return owner, record
