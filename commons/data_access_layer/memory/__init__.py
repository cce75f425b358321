"""The memory engine of the repository contract: pure Python, no database, the SQL engine's
semantics (ordering, NotFound/Conflict/PreconditionFailed, soft deletes, `_etag`, joined names,
`_last_event_ctx`, `updated_at`), and as fast as a dict. The rule tests run on it; the
contract suites run on it beside SQLite, PostgreSQL and Cosmos DB, so that it stays a real
implementation of the contract rather than a stand-in.

The modules, in the order they build on each other: `tables` (rows, columns, snapshots),
`base` (conditional writes, constraints), the repositories (`catalogue`, `time_entries`,
`accounts`: users, money, access tokens), `audit` (change log, event log, Idempotency-Key
claims), `unit_of_work` and `store`.
"""

from commons.data_access_layer.memory.store import MemoryStore, as_store
from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork

__all__ = ["MemoryStore", "MemoryUnitOfWork", "as_store"]
