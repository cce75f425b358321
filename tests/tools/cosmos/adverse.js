// Adverse mode: the everyday unkindness of the real service, deterministic from a seed so that a
// failing run replays. Off unless the launcher passes COSMOS_STAND_IN_SEED.
//   - Short pages: a query or change-feed page holds 0..x-ms-max-item-count items while a
//     continuation says more remain (Cosmos REST "Query documents": a page may hold fewer items
//     than asked, even none, with x-ms-continuation set). An empty change-feed page is a 304
//     that keeps the etag (change-feed.js): SDK 4.17 ends an iteration on an empty page.
//   - 429 Too Many Requests, x-ms-substatus 3200 (RU budget exceeded) and x-ms-retry-after-ms,
//     before the request is applied, on document reads, queries, writes and batches
//     (COSMOS_STAND_IN_429_RATE, default 0.04). SDK 4.17 retries every request on 429
//     (_retry_utility.py Execute -> _resource_throttle_retry_policy.py: 9 attempts, waiting
//     x-ms-retry-after-ms, up to 30 s), whatever its endpoint-discovery setting.
//   - 408 / 503 on reads and queries only (COSMOS_STAND_IN_TRANSIENT_RATE, default 0): SDK 4.17
//     retries those (_timeout_failover_retry_policy.py, _service_unavailable_retry_policy.py)
//     only when the client has enable_endpoint_discovery=True, and then once on a one-region
//     account; with discovery off (this project's setting) it raises them at once. So they are off
//     by default and, when on, injected only on a request's first attempt.
//   - A request is never failed more than twice in a row, so the SDK's retries always succeed.
// Metadata requests (account, databases, containers, partition key ranges) are never failed:
// the faults are for the data path the engine drives.
"use strict";

const { send, isTrue } = require("./http");

const MAX_CONSECUTIVE = 2;
const THROTTLED_SUBSTATUS = 3200;

// mulberry32: a small seeded PRNG, so that the same seed gives the same faults and page sizes.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rate = (name, fallback) => {
  const value = parseFloat(process.env[name]);
  return Number.isFinite(value) ? value : fallback;
};

// Reads and queries: what the SDK marks read-only (documents.py _OperationType.IsReadOnlyOperation).
function isRead(req, route) {
  return req.method === "GET" || (req.method === "POST" && !route.docId && isQuery(req));
}

function isQuery(req) {
  return isTrue(req, "x-ms-documentdb-isquery") || req.headers["content-type"] === "application/query+json";
}

// What identifies a retry of the same request (the SDK resends it unchanged but for its date).
function requestKey(req) {
  const h = req.headers;
  return [req.method, req.url, h["x-ms-documentdb-partitionkey"], h["x-ms-continuation"], h["if-none-match"],
    h["if-match"], h["content-length"]].join("|");
}

class Adverse {
  constructor(seed) {
    this.random = mulberry32(seed);
    this.throttleRate = rate("COSMOS_STAND_IN_429_RATE", 0.04);
    this.transientRate = rate("COSMOS_STAND_IN_TRANSIENT_RATE", 0);
    this.streaks = new Map();
    this.stats = { seed, injected: { 408: 0, 429: 0, 503: 0 }, pages: { short: 0, empty: 0 } };
  }

  // Answers the request with an injected failure and returns true, or returns false.
  maybeFail(req, res, route) {
    const key = requestKey(req);
    const streak = this.streaks.get(key) || 0;
    const status = this.pickFailure(req, route, streak);
    if (status === null) {
      this.streaks.delete(key);
      return false;
    }
    if (this.streaks.size > 10000) this.streaks.clear();
    this.streaks.set(key, streak + 1);
    this.stats.injected[status] += 1;
    req.resume();
    if (status === 429) {
      const retryAfter = 5 + Math.floor(this.random() * 16);
      send(res, 429, { code: "TooManyRequests", message: "Request rate is large (stand-in)." },
        { "x-ms-retry-after-ms": retryAfter, "x-ms-substatus": THROTTLED_SUBSTATUS });
    } else {
      send(res, status, { code: status === 408 ? "RequestTimeout" : "ServiceUnavailable", message: "stand-in" });
    }
    return true;
  }

  pickFailure(req, route, streak) {
    if (streak >= MAX_CONSECUTIVE) return null;
    const draw = this.random();
    if (draw < this.throttleRate) return 429;
    const transient = streak === 0 && isRead(req, route) && draw < this.throttleRate + this.transientRate;
    if (!transient) return null;
    return this.random() < 0.5 ? 408 : 503;
  }

  // The size of the next page when `max` items were asked for: 0..max.
  pageSize(max) {
    const size = Math.floor(this.random() * (max + 1));
    if (size === 0) this.stats.pages.empty += 1;
    else if (size < max) this.stats.pages.short += 1;
    return size;
  }
}

module.exports = { Adverse };
