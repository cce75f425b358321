"""The Cosmos engine's part for integrators (TT-15): personal access tokens and
Idempotency-Key claims, each in a container of its own partitioned by `/tenant_id`.

- A token is a document whose id is the token's id: the API finds it with one point read in
  the tenant's partition. Its writes go out with their outbox event in one batch, as every
  write of the engine does.
- A claim is a document whose id is a digest of (user, key): `create_item` fails with 409
  when the key is held, which is the atomic "someone has it already"; the document expires
  by itself through its `ttl`.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.cosmos import exceptions

from commons.data_access_layer.cosmos_db.documents import (
    ITEMS_ONLY,
    SDK_ERRORS,
    new_document,
    outbox_event,
    record,
    rewritten,
    status_error,
    stored_body,
    translate,
)
from commons.data_access_layer.events import CREATE, DELETE, event_context
from commons.data_access_layer.idempotency import IdempotencyClaim
from commons.data_access_layer.repository import ChangeQuery, Record
from commons.domain.clock import now_ms
from commons.domain.errors import Contended, NotFound

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.catalogue import CosmosCatalogue
    from commons.data_access_layer.cosmos_db.store import CosmosStore
    from commons.data_access_layer.cosmos_db.time_entries import CosmosTimeEntries
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork

TOKENS, CLAIMS = "access_token", "idempotency"


def _token(doc: Mapping[str, Any]) -> Record:
    return {**record(doc, marker=False), "created_at": doc.get("created_at")}


class CosmosAccessTokens:
    """Personal access tokens of one tenant; revoking is a soft delete (`revoked_at`)."""

    label = "Personal access token"

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self._items = uow.partition(TOKENS, self.label)

    def add(self, token_id: str, fields: Mapping[str, Any]) -> Record:
        now = now_ms()
        doc = new_document(self._items.tenant, fields, event_context(self._uow.actor, TOKENS, CREATE, now), now)
        doc["id"] = token_id
        answer = {**_token(doc), "_etag": None}
        self._uow.queue(TOKENS, ("create", (doc,), {}), lambda body: answer.update(_etag=body.get("_etag")))
        self._uow.queue(TOKENS, ("create", (outbox_event(doc),), {}))
        return answer

    def _read(self, token_id: str) -> dict[str, Any]:
        self._uow.flush(TOKENS)
        doc = self._items.read(token_id)
        if doc.get("_kind") is not None:
            raise NotFound(f"{self.label} not found")
        return doc

    def get(self, token_id: str) -> Record:
        return _token(self._read(token_id))

    def list(self, owner_id: str | None = None) -> builtins.list[Record]:
        text = f"SELECT * FROM c WHERE c.tenant_id = @tenant{ITEMS_ONLY}"
        values: dict[str, Any] = {}
        if owner_id is not None:
            text += " AND c.owner_id = @owner"
            values["owner"] = owner_id
        self._uow.flush(TOKENS)
        docs = [_token(d) for d in self._items.query(text, **values)]
        return sorted(docs, key=lambda d: (-(d["created_at"] or 0), d["id"]))

    def revoke(self, token_id: str, now: int) -> Record:
        current = self._read(token_id)
        if current.get("revoked_at") is not None:
            return _token(current)
        context = event_context(self._uow.actor, TOKENS, DELETE, now, "Revoke personal access token")
        doc = rewritten(current, {"revoked_at": now}, context, now)
        answer = {**_token(doc), "_etag": None}
        self._uow.queue(
            TOKENS,
            ("replace", (token_id, doc), {"if_match_etag": current["_etag"]}),
            lambda body: answer.update(_etag=body.get("_etag")),
            # Touched (a use recorded) since it was read: the service revokes again.
            lambda status: (
                Contended("The token was used at the same time; try again")
                if status == 412
                else status_error(status, self.label)
            ),
        )
        self._uow.queue(TOKENS, ("create", (outbox_event(doc),), {}))
        return answer

    def touch(self, token: Record, now: int) -> None:
        try:
            doc = self._items.read(token["id"])
            self._items.proxy.replace_item(
                doc["id"],
                {**stored_body(doc), "last_used_at": now},
                etag=doc["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (NotFound, exceptions.CosmosAccessConditionFailedError):
            pass  # revoked or used at the same time: the other write says as much


def _claim_id(user_id: str, key: str) -> str:
    return "claim:" + hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def _claim(doc: Mapping[str, Any]) -> IdempotencyClaim:
    return IdempotencyClaim(
        fingerprint=doc["fingerprint"],
        owner=doc["owner"],
        state=doc["state"],
        created_at=int(doc["created_at"]),
        locked_until=int(doc["locked_until"]),
        expires_at=int(doc["expires_at"]),
        status=doc.get("status"),
        response=doc.get("response"),
    )


class CosmosIdempotencyKeys:
    """Claims in the `idempotency` container (see the module's docstring)."""

    def __init__(self, store: CosmosStore) -> None:
        self._store = store

    def _doc(self, tenant_id: str, user_id: str, claim: IdempotencyClaim) -> dict[str, Any]:
        return {
            **asdict(claim),
            "tenant_id": tenant_id,
            "user_id": user_id,
            # Gone by itself a little after it stops mattering.
            "ttl": max(1, (claim.expires_at - claim.created_at) // 1000 + 60),
        }

    def claim(self, tenant_id: str, user_id: str, key: str, wanted: IdempotencyClaim) -> IdempotencyClaim | None:
        proxy = self._store.proxy(CLAIMS)
        doc = {**self._doc(tenant_id, user_id, wanted), "id": _claim_id(user_id, key)}
        try:
            try:
                proxy.create_item(doc)
                return None
            except exceptions.CosmosResourceExistsError:
                pass
            try:
                held_doc = proxy.read_item(doc["id"], partition_key=tenant_id)
            except exceptions.CosmosResourceNotFoundError:
                return self.claim(tenant_id, user_id, key, wanted)  # expired in between
            held = _claim(held_doc)
            stale = held.expires_at <= wanted.created_at or (
                held.state == "in_flight" and held.locked_until <= wanted.created_at
            )
            if not stale:
                return held
            try:
                proxy.replace_item(
                    doc["id"], doc, etag=held_doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
                return None
            except (exceptions.CosmosAccessConditionFailedError, exceptions.CosmosResourceNotFoundError):
                return self.get(tenant_id, user_id, key) or held
        except SDK_ERRORS as error:
            raise translate(error, "Idempotency key") from error

    def get(self, tenant_id: str, user_id: str, key: str) -> IdempotencyClaim | None:
        try:
            return _claim(self._store.proxy(CLAIMS).read_item(_claim_id(user_id, key), partition_key=tenant_id))
        except exceptions.CosmosResourceNotFoundError:
            return None
        except SDK_ERRORS as error:
            raise translate(error, "Idempotency key") from error

    def _held(self, tenant_id: str, user_id: str, key: str, owner: str) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = self._store.proxy(CLAIMS).read_item(_claim_id(user_id, key), partition_key=tenant_id)
        except exceptions.CosmosResourceNotFoundError:
            return None
        return doc if doc.get("owner") == owner else None

    def complete(
        self, tenant_id: str, user_id: str, key: str, owner: str, status: int, response: dict[str, Any]
    ) -> None:
        try:
            doc = self._held(tenant_id, user_id, key, owner)
            if doc is None:
                return
            body = {**stored_body(doc), "state": "done", "status": status, "response": response}
            self._store.proxy(CLAIMS).replace_item(
                doc["id"], body, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
            )
        except exceptions.CosmosAccessConditionFailedError:
            pass  # taken over as stale meanwhile: the new holder answers
        except SDK_ERRORS as error:
            raise translate(error, "Idempotency key") from error

    def release(self, tenant_id: str, user_id: str, key: str, owner: str) -> None:
        try:
            doc = self._held(tenant_id, user_id, key, owner)
            if doc is not None:
                self._store.proxy(CLAIMS).delete_item(
                    doc["id"], partition_key=tenant_id, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
                )
        except (exceptions.CosmosAccessConditionFailedError, exceptions.CosmosResourceNotFoundError):
            pass
        except SDK_ERRORS as error:
            raise translate(error, "Idempotency key") from error


def _changes_text(query: ChangeQuery, live_only: bool, owner_filter: str = "") -> str:
    """A sync page in change order; the composite index (updated_at, id) serves the ORDER BY."""
    return (
        f"SELECT TOP {int(query.limit)} * FROM c WHERE c.tenant_id = @tenant{ITEMS_ONLY}"
        + (" AND IS_NULL(c.deleted)" if live_only else "")
        + " AND (c.updated_at > @at OR (c.updated_at = @at AND c.id > @after_id)) AND c.updated_at <= @until"
        + owner_filter
        + " ORDER BY c.updated_at ASC, c.id ASC"
    )


def catalogue_changes(repository: CosmosCatalogue, query: ChangeQuery) -> builtins.list[Record]:
    """A page of a catalogue's sync list (repository.ChangeQuery)."""
    marker = repository.spec.soft_delete == "mark"
    repository._uow.flush(repository.spec.container)
    docs = repository._items.query(
        _changes_text(query, marker and not query.include_deleted),
        at=query.after[0],
        after_id=query.after[1],
        until=query.until,
    )
    return [{**record(d, marker), "updated_at": d["updated_at"]} for d in docs]


def time_entry_changes(repository: CosmosTimeEntries, query: ChangeQuery) -> builtins.list[Record]:
    """A page of the time entries' sync list, with the joined names."""
    owner_filter = ""
    values: dict[str, Any] = {}
    if query.owners is not None:
        owner_filter = " AND ARRAY_CONTAINS(@owners, c.owner_id)"
        values["owners"] = list(query.owners)
    docs = repository.partition.query(
        _changes_text(query, not query.include_deleted, owner_filter),
        at=query.after[0],
        after_id=query.after[1],
        until=query.until,
        **values,
    )
    entries = repository._named(docs)
    for entry, doc in zip(entries, docs, strict=True):
        entry["updated_at"] = doc["updated_at"]
    return entries
