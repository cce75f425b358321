"""Where azure-cosmos (4.17.1, pinned in requirements/) is not safe to share between threads,
and how the engine makes it so without editing the SDK.

Microsoft asks for one `CosmosClient` per process, shared by its threads (the `CosmosClient`
reference: "maintain a single instance of CosmosClient per lifetime of the application"), and
the engine does so. But the client connection keeps the headers of the last response in one
attribute, `last_response_headers`, which every request of every thread overwrites and which the
SDK then reads back as the headers of *its own* request:

- `__QueryFeed` stores a page's headers there and then copies from them
  (`_cosmos_client_connection.py`, 3703-3705), while any other thread whose request just
  succeeded adds its throttle counters to whatever object the attribute holds at that moment
  (`_retry_utility.py`, 148-157): "RuntimeError: OrderedDict mutated during iteration". Seen in
  CI in a webhook dispatcher thread (4 workers sharing the client).
- `by_page()`'s `continuation_token` is read from that attribute (`_query_iterable.py`, 88-92), so
  a page walk could go on from another thread's continuation: pages repeated or skipped, with no
  error (`Partition.page`: webhook deliveries, the time-entry pages, the change feed's reader).

Upstream knows the gap ("longstanding gap in our SDK with lack of thread safety provided to the
response headers", azure-sdk-for-python PR 33496; PR 46616); 4.17's changelog made only
`response_hook` thread-safe. The attribute is made per thread here: each thread (each greenlet
under gevent, whose patch makes `threading.local` greenlet-local) reads the headers of its own
last response, which is what every one of those reads means. The SDK's own threads (endpoint
refresh, `read_items`' pool) get their own too.
"""

from __future__ import annotations

import threading
from typing import Any

from azure.core.utils import CaseInsensitiveDict
from azure.cosmos._cosmos_client_connection import CosmosClientConnection


def _slot(connection: Any) -> threading.local:
    slot = connection.__dict__.get("_tt_last_response_headers")
    if slot is None:
        # setdefault: two threads creating the first slot at once keep the same one.
        slot = connection.__dict__.setdefault("_tt_last_response_headers", threading.local())
    return slot  # type: ignore[no-any-return]


def _get(connection: Any) -> Any:
    slot = _slot(connection)
    headers = getattr(slot, "headers", None)
    if headers is None:
        # Kept: the retry policy writes its counters into the object it reads here.
        headers = slot.headers = CaseInsensitiveDict()
    return headers


def _set(connection: Any, headers: Any) -> None:
    _slot(connection).headers = headers


def per_thread_response_headers() -> None:
    """Make `last_response_headers` per thread on every client connection (idempotent)."""
    if not isinstance(CosmosClientConnection.__dict__.get("last_response_headers"), property):
        CosmosClientConnection.last_response_headers = property(_get, _set)  # type: ignore[assignment]
