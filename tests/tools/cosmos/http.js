// Small HTTP helpers for the responses the stand-in writes itself (the npm server's request
// handler in lib/index.js writes the others).
"use strict";

const { randomUUID } = require("crypto");

// The headers every Cosmos response carries (as lib/index.js sets them), plus `extra`.
function send(res, status, body, extra = {}) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("connection", "keep-alive");
  res.setHeader("x-ms-activity-id", randomUUID());
  res.setHeader("x-ms-request-charge", status < 400 ? "1" : "0");
  for (const [name, value] of Object.entries(extra)) res.setHeader(name, String(value));
  res.end(body === undefined ? "" : JSON.stringify(body));
}

// `/dbs/{db}/colls/{coll}/docs[/{doc}]` of a request URL, or null. Like lib/router.js, a
// doubled leading slash and trailing slashes are ignored (the SDK sends `.../docs/`).
function documentsRoute(req) {
  let path = new URL(req.url, "http://stand-in").pathname.replace(/^\/\//, "/");
  while (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  const match = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/docs(?:\/([^/]+))?$/.exec(path);
  if (!match) return null;
  const [, dbId, collId, docId] = match.map(part => (part === undefined ? undefined : decodeURIComponent(part)));
  return { dbId, collId, docId };
}

// A header the SDK sends as "True"/"False" (lib/true-header.js).
function isTrue(req, name) {
  return String(req.headers[name] || "").toLowerCase() === "true";
}

// The x-ms-max-item-count of a request, or null when absent or -1 ("let the service decide").
function maxItemCount(req) {
  const max = parseInt(req.headers["x-ms-max-item-count"], 10);
  return Number.isInteger(max) && max > 0 ? max : null;
}

module.exports = { send, documentsRoute, isTrue, maxItemCount };
