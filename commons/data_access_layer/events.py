"""Who did what: the event context stamped on every write as `_last_event_ctx`.

Each write gets its own `event_id`, so that change-feed handlers (delivered at least once) can
derive an idempotent event id from it.
"""

from __future__ import annotations

import uuid
from typing import Any

from commons.domain.clock import format_instant
from commons.domain.identity import Actor as Actor  # re-exported: the data layer's name for the caller

CREATE, UPDATE, DELETE = "create", "update", "delete"


def event_context(
    actor: Actor, container_id: str, action: str, now_ms: int, description: str | None = None
) -> dict[str, Any]:
    """The `_last_event_ctx` of one write."""
    return {
        "event_id": uuid.uuid4().hex,
        "user_id": actor.user_id,
        "tenant_id": actor.tenant_id,
        "action": action,
        "description": description,
        "container_id": container_id,
        "session_id": actor.session_id,
        "date": format_instant(now_ms),
    }
