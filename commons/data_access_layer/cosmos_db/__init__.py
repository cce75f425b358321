"""The Cosmos DB engine of the repository contract (azure-cosmos, NoSQL API).

Every container is partitioned by `/tenant_id`, every query names the caller's tenant in its
text and as the partition key, and every unit of work writes one transactional batch in one
partition (units.py): items with their name guards (catalogue.py), time entries with the
owner lease (time_entries.py), each write with its outbox event (events.py).

Consistency: the rules hold under Session consistency with any number of processes, because
each decision is fenced by the lease's ETag in the batch that writes it, and the rule queries
carry the session token of the lease read. They rest on one write region: with multi-region
writes, two regions could each accept a batch against the same lease version.
"""

from commons.data_access_layer.cosmos_db.containers import CONTAINERS, indexing_policy
from commons.data_access_layer.cosmos_db.documents import translate
from commons.data_access_layer.cosmos_db.store import CosmosStore, counting_round_trips

__all__ = ["CONTAINERS", "CosmosStore", "counting_round_trips", "indexing_policy", "translate"]
