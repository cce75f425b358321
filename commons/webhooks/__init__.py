"""Webhook deliveries (TT-15): `dispatcher` (enqueue from the event pipeline, dispatch in
order per item, retries, endpoint health, ping) and `sender` (signing, target checks, the POST).
"""

from commons.webhooks.dispatcher import SEQUENCE, dispatch, enqueue, ping, record_outcome, run_dispatcher
from commons.webhooks.sender import Outcome, Sender, checked_target, sender_for, sign

__all__ = [
    "SEQUENCE",
    "Outcome",
    "Sender",
    "checked_target",
    "dispatch",
    "enqueue",
    "ping",
    "record_outcome",
    "run_dispatcher",
    "sender_for",
    "sign",
]
