// Logical sequence numbers (LSN) for documents, which the npm server does not keep.
// Real Cosmos gives every write (create, replace, upsert, patch, and each operation of a
// transactional batch) a new LSN, increasing per physical partition; the change feed is ordered
// by it and its continuation (the `etag` of a feed response) is an LSN. This account has one
// partition key range per container (lib/account/collection.js), so the counter is per container.
// Cosmos REST: "Change feed" (latest version mode: `_lsn` on each item of the feed).
"use strict";

const Documents = require("@vercel/cosmosdb-server/lib/account/documents").default;

const states = new WeakMap();

// The LSN state of a container (keyed by the npm Collection object, which owns its documents).
function stateOf(collection) {
  let state = states.get(collection);
  if (!state) {
    state = { lsn: 0, shared: null, writtenAt: 0 };
    states.set(collection, state);
  }
  return state;
}

// Every write of the npm server stores the new version through Items#_set (create and replace;
// upsert and patch go through them). A delete does not: deletes get no LSN in latest-version mode.
function install() {
  const originalSet = Documents.prototype._set;
  Documents.prototype._set = function setWithLsn(data) {
    const stored = originalSet.call(this, data);
    const state = stateOf(this._parent);
    const lsn = state.shared !== null ? state.shared : (state.lsn += 1);
    this._data.get(data._rid).lsn = lsn;
    state.writtenAt = Date.now();
    return stored;
  };
}

// Runs `write` so that all the versions it stores share one LSN, as the operations of one
// transactional batch do on the service.
function asOneWrite(collection, write) {
  const state = stateOf(collection);
  state.lsn += 1;
  state.shared = state.lsn;
  try {
    return write();
  } finally {
    state.shared = null;
  }
}

// The latest LSN of a container (0 when it was never written).
function currentLsn(collection) {
  return stateOf(collection).lsn;
}

// When the container was last written (ms since the epoch; 0 when never).
function lastWriteAt(collection) {
  return stateOf(collection).writtenAt;
}

// Every stored document with its LSN, in LSN order (the change feed's order).
function documentsByLsn(collection) {
  return [...collection.documents._data.values()]
    .map(item => ({ doc: item.read(), lsn: item.lsn || 0 }))
    .sort((a, b) => a.lsn - b.lsn);
}

// A copy of a container's documents to go back to: the npm server never mutates a stored
// document (a write stores a new object), so copying the maps is enough.
function snapshot(collection) {
  const docs = collection.documents;
  return { data: new Map(docs._data), index: new Map(docs._index), ridCount: docs._ridCount, lsn: currentLsn(collection) };
}

function restore(collection, saved) {
  const docs = collection.documents;
  docs._data = saved.data;
  docs._index = saved.index;
  docs._ridCount = saved.ridCount;
  stateOf(collection).lsn = saved.lsn;
}

module.exports = { install, asOneWrite, currentLsn, lastWriteAt, documentsByLsn, snapshot, restore };
