// The change feed in latest-version mode, which the npm server lacks (lib/index.js answers 304 to
// any read with a continuation).
// Cosmos REST: "List documents" (GET .../colls/{coll}/docs) with `A-IM: Incremental feed`.
// What SDK 4.17 sends (azure/cosmos/_change_feed/change_feed_state.py, ChangeFeedStateV2, and
// change_feed_start_from.py):
//   - If-None-Match: the etag of the previous response for this range (start_time="Beginning":
//     absent; "Now": "*"); If-Modified-Since for a start_time datetime;
//   - x-ms-documentdb-partitionkeyrangeid: "0" (the one range of lib/account/collection.js);
//   - for `partition_key=`: x-ms-read-key-type: EffectivePartitionKeyRange with
//     x-ms-start-epk / x-ms-end-epk (the EPK range of that key, not the key itself);
//   - x-ms-max-item-count when `max_item_count=` is given.
// The SDK keeps our etag as the `token` of its composite continuation (base64 JSON with the
// container rid and feed range, change_feed_fetcher.py `_get_base64_encoded_continuation`), so a
// continuation outlives the iterator and the client; nothing of it is needed here.
"use strict";

const lsn = require("./lsn");
const { effectivePartitionKey, partitionComponents } = require("./epk");
const { send, maxItemCount } = require("./http");

// Page size when the request names none (the change feed processor's default).
const DEFAULT_PAGE = 100;

function isChangeFeed(req, route) {
  return req.method === "GET" && !route.docId && req.headers["a-im"] !== undefined;
}

// Where the feed starts: after an LSN, and optionally not before a time (in seconds).
function startFrom(req, collection) {
  const since = req.headers["if-modified-since"];
  const start = { after: 0, since: since ? Date.parse(since) / 1000 : null };
  const etag = req.headers["if-none-match"];
  if (etag === "*") start.after = lsn.currentLsn(collection);
  else if (etag !== undefined) {
    start.after = Number(etag.replace(/"/g, ""));
    if (!Number.isInteger(start.after) || start.after < 0) throw new Error(`invalid continuation ${etag}`);
  }
  return start;
}

// Which documents the read is scoped to: an EPK range, a partition key, or the whole container.
function scopeOf(req, definition) {
  const epkOf = doc => effectivePartitionKey(definition, partitionComponents(definition, doc));
  if (req.headers["x-ms-read-key-type"] === "EffectivePartitionKeyRange") {
    const min = req.headers["x-ms-start-epk"] || "";
    const max = req.headers["x-ms-end-epk"] || "FF";
    return doc => {
      const epk = epkOf(doc);
      return min <= epk && epk < max;
    };
  }
  const header = req.headers["x-ms-documentdb-partitionkey"];
  if (header !== undefined) {
    const wanted = effectivePartitionKey(definition, JSON.parse(header));
    return doc => epkOf(doc) === wanted;
  }
  return () => true;
}

// The latest version of every document in scope written after the start, in LSN order. A
// document written several times since appears once, as it is now (its versions collapse).
function pendingChanges(collection, start, inScope) {
  return lsn
    .documentsByLsn(collection)
    .filter(({ doc, lsn: written }) => written > start.after && (start.since === null || doc._ts >= start.since))
    .filter(({ doc }) => inScope(doc));
}

// The first `size` changes, extended to the end of the last LSN: the changes of one transactional
// batch share an LSN and travel together, even past the page size. .NET SDK docs,
// ChangeFeedRequestOptions.PageSizeHint: "transaction scope is preserved when reading items from
// the Change Feed. As a result, the number of items received could be higher than the specified
// value". (The next read starts after that LSN anyway, so splitting would lose changes.)
function takePage(changes, size) {
  let end = Math.min(size, changes.length);
  while (end < changes.length && changes[end].lsn === changes[end - 1].lsn) end += 1;
  return changes.slice(0, end);
}

const quoted = value => `"${value}"`;

// How long a replica may lag behind the latest write (the adverse mode's "not caught up yet").
// Replication within a region takes milliseconds; a reader that saw "nothing new" and looks
// again after a pause longer than this sees every write made before its first look.
const REPLICA_LAG_MS = 100;

// Answers a change-feed read. `choosePageSize(max)` is the page size to serve (max unless the
// adverse mode shortens it). 0 stands for a replica that has not caught up with the latest
// writes of other clients yet: 304 with the same etag, so nothing is lost, only seen later;
// only while the container's last write is younger than REPLICA_LAG_MS.
function handle(account, req, res, route, choosePageSize) {
  if (!/^incremental feed$/i.test(req.headers["a-im"])) {
    return send(res, 400, { code: "BadRequest", message: "the stand-in serves the latest-version change feed only" });
  }
  const collection = account.database(route.dbId).collection(route.collId);
  const container = collection.read();
  if (!container) return send(res, 404, { code: "NotFound", message: "Resource Not Found" });
  let start;
  let changes;
  try {
    start = startFrom(req, collection);
    changes = pendingChanges(collection, start, scopeOf(req, container.partitionKey));
  } catch (error) {
    return send(res, 400, { code: "BadRequest", message: error.message });
  }
  if (changes.length === 0) {
    // Nothing newer in scope: the continuation may move to the container's latest LSN.
    return send(res, 304, undefined, { etag: quoted(Math.max(start.after, lsn.currentLsn(collection))) });
  }
  const max = maxItemCount(req) || DEFAULT_PAGE;
  const lagging = Date.now() - lsn.lastWriteAt(collection) < REPLICA_LAG_MS;
  const size = lagging ? choosePageSize(max) : Math.max(1, choosePageSize(max));
  if (size === 0) return send(res, 304, undefined, { etag: quoted(start.after) });
  const page = takePage(changes, size);
  const documents = page.map(({ doc, lsn: written }) => ({ ...doc, _lsn: written }));
  return send(
    res,
    200,
    { _rid: container._rid, Documents: documents, _count: documents.length },
    { etag: quoted(page[page.length - 1].lsn), "x-ms-item-count": documents.length }
  );
}

module.exports = { isChangeFeed, handle };
