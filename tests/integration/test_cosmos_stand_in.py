"""The Cosmos stand-in (tests/tools/cosmos-server.js) behaves like Azure Cosmos DB where the engine
relies on it: the change feed, atomic transactional batches, TTL, and (adverse mode) short pages,
throttling and transient errors that the SDK has to absorb. Driven through the real azure-cosmos SDK."""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey, exceptions

from tests.conftest import unavailable
from tests.tools.cosmos import COSMOS_KEY, start_cosmos_server

#: The adverse mode's seed; set COSMOS_STAND_IN_TEST_SEED to try others (a failure replays with its seed).
SEED = int(os.environ.get("COSMOS_STAND_IN_TEST_SEED", "20240501"))


@contextmanager
def stand_in(**options: Any) -> Iterator[str]:
    """A stand-in of its own, in normal mode unless `options` ask otherwise (whatever the shell says)."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("COSMOS_STAND_IN_SEED", raising=False)
        try:
            proc, url = start_cosmos_server(**options)
        except (RuntimeError, OSError) as exc:
            unavailable(f"The Cosmos test server could not start: {exc}")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with stand_in() as url:
        yield url


@pytest.fixture(scope="module")
def adverse_server() -> Iterator[str]:
    with stand_in(adverse=SEED) as url:
        yield url


def client(url: str, discovery: bool = False) -> CosmosClient:
    return CosmosClient(url, credential=COSMOS_KEY, enable_endpoint_discovery=discovery)


def new_container(url: str, **options: Any) -> ContainerProxy:
    database = client(url).create_database_if_not_exists("stand-in")
    name = f"c-{uuid.uuid4().hex[:12]}"
    return database.create_container(name, partition_key=PartitionKey(path="/tenant_id"), **options)


def same_container(url: str, container: ContainerProxy) -> ContainerProxy:
    """The container through a client of its own (a restarted reader)."""
    return client(url).get_database_client("stand-in").get_container_client(container.id)


@pytest.fixture
def container(server: str) -> ContainerProxy:
    return new_container(server)


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stand-in/stats") as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def write(container: ContainerProxy, count: int, tenant: str = "t1", prefix: str = "d") -> list[str]:
    ids = [f"{prefix}{i:03}" for i in range(count)]
    for i, item_id in enumerate(ids):
        container.create_item({"id": item_id, "tenant_id": tenant, "n": i})
    return ids


def read_feed(container: ContainerProxy, **options: Any) -> tuple[list[list[dict[str, Any]]], str]:
    """Every page of one change-feed read, and the continuation to read on from.

    After a read that found nothing, by_page().continuation_token is None; the SDK leaves its
    composite continuation in the last response's etag either way (change_feed_fetcher.py)."""
    read = [list(page) for page in container.query_items_change_feed(**options).by_page()]
    return read, container.client_connection.last_response_headers["etag"]


def ids_of(pages: list[list[dict[str, Any]]]) -> list[str]:
    return [doc["id"] for page in pages for doc in page]


# The change feed (latest-version mode)


def test_a_connection_idle_for_longer_than_nodes_default_is_still_served(server: str) -> None:
    """The stand-in keeps idle connections as Azure's load balancing does (4 minutes), not
    Node's 5 s: a client reusing a pooled connection then rarely finds it closed under it."""
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for pause in (0, 13):
            time.sleep(pause)
            connection.request("GET", "/_stand-in/stats")
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close
    finally:
        connection.close()


def test_the_change_feed_from_the_beginning_returns_every_document_once(container: ContainerProxy) -> None:
    ids = write(container, 12)
    pages, _ = read_feed(container, start_time="Beginning")
    assert ids_of(pages) == ids
    assert all(doc["_lsn"] > 0 for page in pages for doc in page)


def test_a_read_from_the_continuation_returns_exactly_the_writes_since(container: ContainerProxy) -> None:
    write(container, 5)
    _, continuation = read_feed(container, start_time="Beginning")
    newer = write(container, 3, prefix="new")
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == newer


def test_a_document_written_five_times_between_reads_appears_once_in_its_latest_version(
    container: ContainerProxy,
) -> None:
    write(container, 2)
    _, continuation = read_feed(container, start_time="Beginning")
    for version in range(1, 6):
        container.upsert_item({"id": "d000", "tenant_id": "t1", "version": version})
    [[change]], _ = read_feed(container, continuation=continuation)
    assert change["id"] == "d000" and change["version"] == 5


def test_with_nothing_new_the_feed_returns_nothing_and_the_service_answers_304(
    server: str, container: ContainerProxy
) -> None:
    write(container, 3)
    _, continuation = read_feed(container, start_time="Beginning")
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == []
    # Underneath: the SDK's composite continuation holds our etag, which the service answers 304.
    [token] = json.loads(base64.b64decode(continuation))["continuation"]["continuation"]
    request = urllib.request.Request(
        f"{server}/dbs/stand-in/colls/{container.id}/docs",
        headers={"A-IM": "Incremental Feed", "If-None-Match": token["token"]},
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request)
    assert answer.value.code == 304


def test_pages_hold_at_most_max_item_count_and_every_document_exactly_once(container: ContainerProxy) -> None:
    ids = write(container, 30)
    pages, _ = read_feed(container, start_time="Beginning", max_item_count=7)
    assert all(0 < len(page) <= 7 for page in pages)
    assert ids_of(pages) == ids


def test_a_continuation_resumes_in_a_new_client_and_a_new_iterator(server: str, container: ContainerProxy) -> None:
    ids = write(container, 30)
    pages: Any = container.query_items_change_feed(start_time="Beginning", max_item_count=7).by_page()
    first = list(next(pages))
    restarted = same_container(server, container)
    rest, _ = read_feed(restarted, continuation=pages.continuation_token, max_item_count=7)
    assert [doc["id"] for doc in first] + ids_of(rest) == ids


def test_a_partition_scoped_feed_sees_only_its_partition(container: ContainerProxy) -> None:
    mine = write(container, 4, tenant="t1", prefix="a")
    write(container, 4, tenant="t2", prefix="b")
    pages, continuation = read_feed(container, start_time="Beginning", partition_key="t1")
    assert ids_of(pages) == mine
    write(container, 2, tenant="t2", prefix="c")
    later = write(container, 2, tenant="t1", prefix="e")
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == later


def test_deletes_do_not_appear_in_the_feed(container: ContainerProxy) -> None:
    write(container, 3)
    _, continuation = read_feed(container, start_time="Beginning")
    container.delete_item("d001", partition_key="t1")
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == []
    pages, _ = read_feed(container, start_time="Beginning")
    assert ids_of(pages) == ["d000", "d002"]


def test_a_feed_started_now_sees_only_later_writes(container: ContainerProxy) -> None:
    write(container, 3)
    pages, continuation = read_feed(container, start_time="Now")
    assert ids_of(pages) == []
    later = write(container, 2, prefix="later")
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == later


def test_the_writes_of_one_batch_share_an_lsn_and_a_page(container: ContainerProxy) -> None:
    container.execute_item_batch(
        [("create", ({"id": f"b{i}", "tenant_id": "t1"},)) for i in range(3)], partition_key="t1"
    )
    pages, _ = read_feed(container, start_time="Beginning", max_item_count=1)
    assert ids_of(pages[:1]) == ["b0", "b1", "b2"]
    assert len({doc["_lsn"] for doc in pages[0]}) == 1


# Transactional batch: all or nothing


def seed_items(container: ContainerProxy) -> dict[str, dict[str, Any]]:
    return {item_id: container.create_item({"id": item_id, "tenant_id": "t1", "v": 0}) for item_id in ("x", "y")}


def assert_untouched(container: ContainerProxy, before: dict[str, dict[str, Any]], absent: str) -> None:
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item(absent, partition_key="t1")
    for item_id, doc in before.items():
        now = container.read_item(item_id, partition_key="t1")
        assert (now["_etag"], now["v"]) == (doc["_etag"], 0)


def test_a_batch_failing_on_a_duplicate_create_raises_at_its_index_and_leaves_no_trace(
    container: ContainerProxy,
) -> None:
    before = seed_items(container)
    operations = [
        ("create", ({"id": "new", "tenant_id": "t1"},)),
        ("replace", ("x", {"id": "x", "tenant_id": "t1", "v": 1})),
        ("create", ({"id": "y", "tenant_id": "t1"},)),
    ]
    with pytest.raises(exceptions.CosmosBatchOperationError) as failure:
        container.execute_item_batch(operations, partition_key="t1")
    assert (failure.value.error_index, failure.value.status_code) == (2, 409)
    assert [r["statusCode"] for r in failure.value.operation_responses] == [424, 424, 409]
    assert_untouched(container, before, "new")


def test_a_batch_failing_on_a_stale_if_match_raises_412_and_leaves_no_trace(container: ContainerProxy) -> None:
    before = seed_items(container)
    container.upsert_item({"id": "y", "tenant_id": "t1", "v": 0})  # y's etag moves on
    before["y"] = container.read_item("y", partition_key="t1")
    operations: list[Any] = [
        ("create", ({"id": "new", "tenant_id": "t1"},)),
        ("patch", ("x", [{"op": "set", "path": "/v", "value": 1}])),
        ("replace", ("y", {"id": "y", "tenant_id": "t1", "v": 1}), {"if_match_etag": before["x"]["_etag"]}),
    ]
    with pytest.raises(exceptions.CosmosBatchOperationError) as failure:
        container.execute_item_batch(operations, partition_key="t1")
    assert (failure.value.error_index, failure.value.status_code) == (2, 412)
    assert_untouched(container, before, "new")


def test_a_failed_batch_leaves_nothing_in_the_change_feed(container: ContainerProxy) -> None:
    seed_items(container)
    _, continuation = read_feed(container, start_time="Beginning")
    with pytest.raises(exceptions.CosmosBatchOperationError):
        container.execute_item_batch(
            [("upsert", ({"id": "x", "tenant_id": "t1", "v": 9},)), ("delete", ("missing",))], partition_key="t1"
        )
    pages, _ = read_feed(container, continuation=continuation)
    assert ids_of(pages) == []


def test_replace_or_delete_of_a_missing_id_in_a_batch_is_404(container: ContainerProxy) -> None:
    for operation in [("replace", ("nope", {"id": "nope", "tenant_id": "t1"})), ("delete", ("nope",))]:
        with pytest.raises(exceptions.CosmosBatchOperationError) as failure:
            container.execute_item_batch([operation], partition_key="t1")
        assert (failure.value.error_index, failure.value.status_code) == (0, 404)


def test_a_successful_batch_applies_every_operation_and_returns_new_etags(container: ContainerProxy) -> None:
    before = seed_items(container)
    operations: list[Any] = [
        ("create", ({"id": "new", "tenant_id": "t1", "v": 0},)),
        ("replace", ("x", {"id": "x", "tenant_id": "t1", "v": 1}), {"if_match_etag": before["x"]["_etag"]}),
        ("patch", ("y", [{"op": "set", "path": "/v", "value": 2}])),
        ("upsert", ({"id": "other", "tenant_id": "t1", "v": 3},)),
        ("read", ("new",)),
        ("delete", ("new",)),
    ]
    results = container.execute_item_batch(operations, partition_key="t1")
    assert [r["statusCode"] for r in results] == [201, 200, 200, 201, 200, 204]
    assert results[1]["resourceBody"]["v"] == 1 and results[1]["eTag"] != before["x"]["_etag"]
    assert results[2]["resourceBody"]["v"] == 2 and results[2]["eTag"] != before["y"]["_etag"]
    assert container.read_item("x", partition_key="t1")["_etag"] == results[1]["eTag"]
    assert container.read_item("other", partition_key="t1")["v"] == 3
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("new", partition_key="t1")


def test_a_batch_with_an_operation_in_another_partition_is_refused(container: ContainerProxy) -> None:
    operations = [("create", ({"id": "a", "tenant_id": "t1"},)), ("create", ({"id": "b", "tenant_id": "t2"},))]
    with pytest.raises(exceptions.CosmosBatchOperationError) as failure:
        container.execute_item_batch(operations, partition_key="t1")
    assert (failure.value.error_index, failure.value.status_code) == (1, 400)
    assert list(container.query_items("SELECT * FROM c", enable_cross_partition_query=True)) == []


# What the launcher already did, and TTL


def test_a_point_read_of_a_missing_item_is_404(container: ContainerProxy) -> None:
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("missing", partition_key="t1")


def test_an_item_past_its_ttl_vanishes_from_reads_and_queries(server: str) -> None:
    container = new_container(server, default_ttl=-1)
    container.create_item({"id": "short", "tenant_id": "t1", "ttl": 1})
    container.create_item({"id": "kept", "tenant_id": "t1"})
    time.sleep(2.1)
    with pytest.raises(exceptions.CosmosResourceNotFoundError):
        container.read_item("short", partition_key="t1")
    found = container.query_items("SELECT c.id FROM c WHERE c.tenant_id = 't1'", partition_key="t1")
    assert [doc["id"] for doc in found] == ["kept"]


def test_a_query_with_a_partition_key_reads_that_partition_only(container: ContainerProxy) -> None:
    write(container, 3, tenant="t1", prefix="a")
    write(container, 2, tenant="t2", prefix="b")
    found = container.query_items("SELECT c.id FROM c", partition_key="t2")
    assert sorted(doc["id"] for doc in found) == ["b000", "b001"]
    everywhere = container.query_items("SELECT c.id FROM c", enable_cross_partition_query=True)
    assert len(list(everywhere)) == 5


def test_replacing_a_container_keeps_its_documents_and_takes_the_new_policy(server: str) -> None:
    container = new_container(server)
    container.create_item({"id": "kept", "tenant_id": "t1"})
    database = client(server).get_database_client("stand-in")
    policy = {"indexingMode": "consistent", "compositeIndexes": [[{"path": "/a", "order": "descending"}]]}
    database.replace_container(
        container.id, partition_key=PartitionKey(path="/tenant_id"), indexing_policy=policy, default_ttl=-1
    )
    replaced = database.get_container_client(container.id)
    assert replaced.read()["indexingPolicy"]["compositeIndexes"] == policy["compositeIndexes"]
    assert replaced.read()["defaultTtl"] == -1
    assert replaced.read_item("kept", partition_key="t1")["id"] == "kept"


# Adverse mode: what the SDK must absorb


def test_a_query_returns_every_result_through_short_and_empty_pages(adverse_server: str) -> None:
    container = new_container(adverse_server)
    ids = write(container, 25)
    short_pages = 0
    for _ in range(20):  # until the server has served an empty page too (the SDK skips those)
        pages = container.query_items(
            "SELECT * FROM c WHERE c.tenant_id = 't1'", partition_key="t1", max_item_count=10
        ).by_page()
        read = [[doc["id"] for doc in page] for page in pages]
        assert sorted(item_id for page in read for item_id in page) == ids
        assert all(len(page) <= 10 for page in read)
        short_pages += sum(1 for page in read[:-1] if len(page) < 10)
        if short_pages and stats(adverse_server)["pages"]["empty"]:
            break
    assert short_pages > 0
    assert stats(adverse_server)["pages"]["empty"] > 0


def test_order_by_and_aggregates_stay_exact_under_short_pages(adverse_server: str) -> None:
    container = new_container(adverse_server)
    for i in range(25):
        container.create_item({"id": f"o{i:02}", "tenant_id": "t1", "n": (i * 7) % 5})  # ties on n
    for _ in range(3):
        ordered = list(
            container.query_items(
                "SELECT c.id, c.n FROM c WHERE c.tenant_id = 't1' ORDER BY c.n DESC",
                partition_key="t1",
                max_item_count=4,
            )
        )
        assert sorted(doc["id"] for doc in ordered) == [f"o{i:02}" for i in range(25)]
        assert [doc["n"] for doc in ordered] == sorted((doc["n"] for doc in ordered), reverse=True)
        count = container.query_items(
            "SELECT VALUE COUNT(1) FROM c WHERE c.tenant_id = 't1'", partition_key="t1", max_item_count=4
        )
        total = container.query_items(
            "SELECT VALUE SUM(c.n) FROM c WHERE c.tenant_id = 't1'", partition_key="t1", max_item_count=4
        )
        assert (list(count), list(total)) == ([25], [sum((i * 7) % 5 for i in range(25))])


def test_the_change_feed_delivers_every_change_once_through_short_pages(adverse_server: str) -> None:
    container = new_container(adverse_server)
    ids = write(container, 30)
    short_before = stats(adverse_server)["pages"]["short"]
    seen: list[str] = []
    continuation = None
    for _ in range(100):  # a reader polls until it has caught up (an empty page is a lagging replica)
        options = {"continuation": continuation} if continuation else {"start_time": "Beginning"}
        pages, continuation = read_feed(container, max_item_count=7, **options)
        assert all(len(page) <= 7 for page in pages)
        seen += ids_of(pages)
        if len(seen) >= len(ids):
            break
    assert seen == ids
    assert stats(adverse_server)["pages"]["short"] > short_before


def test_throttled_requests_are_retried_by_the_sdk_and_succeed(adverse_server: str) -> None:
    container = new_container(adverse_server)
    before = stats(adverse_server)["injected"]["429"]
    for i in range(60):
        container.upsert_item({"id": f"t{i}", "tenant_id": "t1", "n": i})
        assert container.read_item(f"t{i}", partition_key="t1")["n"] == i
    container.execute_item_batch([("create", ({"id": "batch", "tenant_id": "t1"},))], partition_key="t1")
    found = container.query_items("SELECT * FROM c WHERE c.tenant_id = 't1'", partition_key="t1", max_item_count=5)
    assert len(list(found)) == 61
    assert stats(adverse_server)["injected"]["429"] > before


def test_a_request_is_never_failed_more_than_twice_in_a_row() -> None:
    with stand_in(adverse=SEED, throttle_rate=1.0) as url:
        container = new_container(url)
        before = stats(url)["injected"]["429"]
        container.create_item({"id": "a", "tenant_id": "t1"})
        assert container.read_item("a", partition_key="t1")["id"] == "a"
        assert stats(url)["injected"]["429"] - before == 4  # each request: 429, 429, then served


def test_without_endpoint_discovery_the_sdk_does_not_retry_408_or_503() -> None:
    # Why the transient rate defaults to 0: with enable_endpoint_discovery=False (our setting)
    # SDK 4.17's _timeout_failover_retry_policy / _service_unavailable_retry_policy give up at once.
    with stand_in(adverse=SEED, throttle_rate=0, transient_rate=1.0) as url:
        container = new_container(url)
        container.create_item({"id": "a", "tenant_id": "t1"})  # writes never get a 408/503
        with pytest.raises(exceptions.CosmosHttpResponseError) as failure:
            container.read_item("a", partition_key="t1")
        assert failure.value.status_code in (408, 503)


def test_with_endpoint_discovery_the_sdk_retries_a_408_or_503_once_and_succeeds() -> None:
    with stand_in(adverse=SEED, throttle_rate=0, transient_rate=1.0) as url:
        container = new_container(url)
        container.create_item({"id": "a", "tenant_id": "t1"})
        discovering = client(url, discovery=True).get_database_client("stand-in").get_container_client(container.id)
        assert discovering.read_item("a", partition_key="t1")["id"] == "a"
        injected = stats(url)["injected"]
        assert injected["408"] + injected["503"] >= 1


def test_the_same_seed_replays_the_same_faults() -> None:
    def statuses(seed: int) -> list[int]:
        codes = []
        with stand_in(adverse=seed, throttle_rate=0.3) as url:
            for _ in range(60):
                try:
                    with urllib.request.urlopen(f"{url}/dbs/none/colls/none/docs/x") as response:
                        codes.append(response.status)
                except urllib.error.HTTPError as error:
                    codes.append(error.code)
        return codes

    first = statuses(SEED)
    assert statuses(SEED) == first and 429 in first
    assert statuses(SEED + 1) != first
