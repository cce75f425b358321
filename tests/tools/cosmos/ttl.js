// Per-item time to live, which the npm server ignores.
// Cosmos docs "Time to Live": with the container's defaultTtl absent TTL is off (an item's `ttl`
// is ignored); -1 means items live until their own `ttl` says otherwise; n > 0 is the default in
// seconds. An item's `ttl` of -1 means never. An item expires `ttl` seconds after its last
// write (`_ts`) and is then invisible to reads and queries at once. Expiry is not a change:
// it never shows in the latest-version change feed (a delete does not either).
"use strict";

const lsn = require("./lsn");

function isExpired(doc, defaultTtl, now) {
  const ttl = typeof doc.ttl === "number" ? doc.ttl : defaultTtl;
  return ttl > 0 && doc._ts + ttl <= now;
}

// Removes the expired items of a container before a request touches it (cheap: only containers
// with a defaultTtl are scanned).
function purgeExpired(collection) {
  const container = collection && collection.read();
  if (!container || typeof container.defaultTtl !== "number") return;
  const now = Date.now() / 1000;
  for (const { doc } of lsn.documentsByLsn(collection)) {
    if (isExpired(doc, container.defaultTtl, now)) collection.documents.delete(doc._rid);
  }
}

module.exports = { purgeExpired };
