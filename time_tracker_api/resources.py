"""Helpers shared by the namespaces: the request's store and identity, ETags, and the
catalogue resources (list/create, get/update/delete), which only differ by spec and models.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_restx import Model, Namespace, Resource, fields, reqparse
from flask_restx.utils import unpack

from commons.data_access_layer.repository import CatalogueSpec, Record, Store
from commons.domain.identity import require_admin
from commons.domain.preconditions import IfMatch, parse_if_match
from time_tracker_api import catalogue, catalogue_inputs, idempotency, sync
from time_tracker_api.inputs import NOT_BLANK, body, query_parser
from time_tracker_api.security import current_identity

#: Every error body. Each error response of the spec carries an example of its own message.
ERROR = Model(
    "Error",
    {
        "message": fields.String(required=True, description="What went wrong, for people"),
        "errors": fields.Raw(
            description="Validation errors only: what is wrong with each field or query parameter",
            example={"month": "Invalid argument: 13. argument must be within the range 1 - 12"},
        ),
    },
)


def store() -> Store:
    return current_app.extensions["time_tracker"].store  # type: ignore[no-any-return]


def if_match() -> IfMatch | None:
    """The `If-Match` condition (strong comparison); None when absent or `*`."""
    return parse_if_match(request.headers.get("If-Match"))


def public(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def entity(
    record: Record, status: int = 200, location: str | None = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A single entity with its `ETag` (and, when created, its `Location`)."""
    headers = {"ETag": f'"{record["_etag"]}"'}
    if location is not None:
        headers["Location"] = location
    return public(record), status, headers


class Base(Resource):
    """A resource that needs a valid token: the caller is authenticated before anything else
    (the payload validation of flask-restx included), so a bad token is a 401, not a 400."""

    #: POSTs honour `Idempotency-Key` (idempotency.py) unless a resource says otherwise.
    idempotent = True

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        current_identity()
        if request.method == "POST" and self.idempotent and idempotency.HEADER in request.headers:
            return idempotency.run(lambda: self._response(*args, **kwargs), self.api.handle_error)
        return super().dispatch_request(*args, **kwargs)

    def _response(self, *args: Any, **kwargs: Any) -> Response:
        """The method's answer as the response the client gets (to be stored for replays)."""
        answer = super().dispatch_request(*args, **kwargs)
        if isinstance(answer, Response):
            return answer
        data, code, headers = unpack(answer)
        return self.api.make_response(data, code, headers=headers)  # type: ignore[no-any-return]


class NullableString(fields.String):
    """A string that may also be JSON null (clients send null for "none")."""

    __schema_type__ = ["string", "null"]


def common_fields() -> dict[str, fields.Raw]:
    return {
        "id": fields.String(
            readonly=True, description="The identifier", example="8c8c6b4a-8e63-4d6b-9b0b-0f0f4c7b7c3e"
        ),
        "tenant_id": fields.String(readonly=True, description="The tenant (from the token)"),
        "deleted": NullableString(readonly=True, description="Always null on live items"),
    }


def optional(ns: Namespace, model: Model) -> Model:
    """The same model with every field optional (for PUT)."""
    copies = {}
    for name, field in model.items():
        clone = copy.copy(field)
        clone.required = False
        copies[name] = clone
    return ns.model(f"{model.name}Update", copies)


class NullableInteger(fields.Integer):
    __schema_type__ = ["integer", "null"]


class NullableBoolean(fields.Boolean):
    __schema_type__ = ["boolean", "null"]


class Status(fields.Raw):
    """`active` or `inactive` (0/1 accepted from the newer front end)."""

    __schema_type__ = ["string", "integer"]
    __schema_example__ = "active"

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = super().schema()
        schema["enum"] = ["active", "inactive", 0, 1]
        return schema


def name_field(example: str, max_length: int = 50) -> fields.String:
    """A required name: 1 to `max_length` characters, not only blanks."""
    return fields.String(required=True, min_length=1, max_length=max_length, pattern=NOT_BLANK, example=example)


def declare_limits(model: Model) -> None:
    """The lengths `catalogue_inputs` enforces, declared on the text fields (and the text items
    of lists) that state none, so the contract says what the API refuses."""
    for name, field in model.items():
        text = field.container if isinstance(field, fields.List) else field
        if isinstance(text, fields.String) and text.max_length is None:
            text.max_length = catalogue_inputs.max_length(name)


def register_catalogue(
    ns: Namespace,
    spec: CatalogueSpec,
    input_model: Model,
    output_model: Model,
    filters: reqparse.RequestParser | None = None,
    *,
    list_view: Callable[..., list[Record]] | None = None,
    view: catalogue.View = catalogue.as_stored,
    noun: str | None = None,
) -> None:
    """Add `''` (list, create) and `/<id>` (get, update, delete) to `ns` for `spec`."""
    noun = noun or spec.label.lower()
    declared = tuple(output_model.resolved)

    def complete(record: Record) -> Record:
        """Every declared field is in the answer, null when it has no value."""
        return {**dict.fromkeys(declared), **record}

    ns.add_model(ERROR.name, ERROR)
    declare_limits(input_model)
    update_model = optional(ns, input_model)
    list_parser = filters or query_parser()
    plain_filters = tuple(str(a.name) for a in list_parser.args)
    sync.add_arguments(list_parser)
    label = spec.label

    @ns.route("")
    @ns.response(401, "Missing or invalid token", ERROR)
    class Collection(Base):
        @ns.expect(list_parser)
        @ns.response(
            200,
            "Success (with updated_since: a sync page, oldest change first)",
            [output_model],
            headers={sync.HEADER: "With updated_since: pass it back as updated_since for what follows"},
        )
        @ns.response(400, "Malformed filter", ERROR)
        def get(self) -> Any:
            parsed = list_parser.parse_args()
            wanted = sync.requested(parsed, plain_filters)
            if wanted is not None:
                now = current_app.extensions["time_tracker"].clock()
                changed = catalogue.list_changes(store(), current_identity(), spec, sync.query(wanted, now), view)
                return sync.answer(wanted, changed, lambda r: public(complete(r)))
            args = {k: v for k, v in parsed.items() if k in plain_filters}
            if list_view is not None:
                return [public(complete(r)) for r in list_view(store(), current_identity(), args)]
            return [public(complete(r)) for r in catalogue.list_items(store(), current_identity(), spec, args, view)]

        @ns.expect(input_model, validate=True)
        @ns.response(201, "Created", output_model, headers={"Location": "The new item's path", "ETag": "Its version"})
        @ns.response(400, "Invalid input", ERROR)
        @ns.response(403, "You don't have enough permissions.", ERROR)
        @ns.response(409, f"{label} already exists", ERROR)
        def post(self) -> Any:
            identity, payload = current_identity(), body()
            require_admin(identity)  # 403 before the body's fields are judged
            item = catalogue_inputs.item_changes(spec, payload, partial=False)
            created = complete(catalogue.create_item(store(), identity, spec, item, view))
            return entity(created, 201, location=f"{request.root_path}{ns.path}/{created['id']}")

    @ns.route("/<string:id>")
    @ns.param("id", f"The {noun} identifier")
    @ns.response(401, "Missing or invalid token", ERROR)
    @ns.response(404, f"{label} not found", ERROR)
    class Item(Base):
        @ns.response(200, "Success", output_model)
        def get(self, id: str) -> Any:
            return entity(complete(catalogue.get_item(store(), current_identity(), spec, id, view)))

        @ns.expect(update_model, validate=True)
        @ns.response(200, "Updated", output_model)
        @ns.response(400, "Invalid input", ERROR)
        @ns.response(403, "You don't have enough permissions.", ERROR)
        @ns.response(409, f"{label} already exists", ERROR)
        @ns.response(412, "If-Match does not match the current ETag", ERROR)
        def put(self, id: str) -> Any:
            identity, payload, condition = current_identity(), body(), if_match()
            require_admin(identity)  # 403 before the body's fields are judged
            changes = catalogue_inputs.item_changes(spec, payload, partial=True)
            return entity(complete(catalogue.update_item(store(), identity, spec, id, changes, condition, view)))

        @ns.response(204, "Deleted")
        @ns.response(403, "You don't have enough permissions.", ERROR)
        @ns.response(412, "If-Match does not match the current ETag", ERROR)
        def delete(self, id: str) -> Any:
            catalogue.delete_item(store(), current_identity(), spec, id, if_match())
            return None, 204

    article = "an" if noun[0] in "aeiou" else "a"
    plural = ns.name.replace("-", "_")
    singular = noun.replace(" ", "_")
    deactivates = spec.soft_delete == "deactivate"
    documented = {
        Collection.get: (
            f"list_{plural}",
            f"List the {noun} catalogue of your tenant",
            "Every live item of your tenant, in name order; filter with the query parameters. "
            + ("Inactive items are listed too (filter with status). " if deactivates else "")
            + "With updated_since: the items changed since then, oldest change first, a page of limit, "
            + (
                "deactivated ones included as they are (inactive). "
                if deactivates
                else "deleted ones as tombstones (deleted set) with include_deleted=true. "
            )
            + sync.EXAMPLE,
        ),
        Collection.post: (
            f"create_{singular}",
            f"Create {article} {noun} (admin)",
            "The name must be unique among the live items of your tenant. Server-owned keys (id, "
            "tenant_id, deleted) and unknown keys in the body are ignored. The answer carries an ETag "
            "and a Location header.",
        ),
        Item.get: (f"get_{singular}", f"Get {article} {noun}", "The item and its ETag (for If-Match)."),
        Item.put: (
            f"update_{singular}",
            f"Update {article} {noun}; every field is optional (admin)",
            "Only the fields sent change. Send If-Match with the ETag you read to refuse a lost update (412).",
        ),
        Item.delete: (
            f"{'deactivate' if deactivates else 'delete'}_{singular}",
            f"Deactivate {article} {noun}: its status becomes inactive (admin)"
            if deactivates
            else f"Delete {article} {noun} (admin)",
            "It stays readable and can be reactivated with PUT status=active; its name can be reused."
            if deactivates
            else "It disappears from every list; its name can be reused.",
        ),
    }
    for method, (operation_id, summary, description) in documented.items():
        method.__doc__ = f"{summary}\n\n{description}"
        ns.doc(id=operation_id)(method)
