#!/usr/bin/env node
// Launches @vercel/cosmosdb-server for the tests as an honest stand-in for Azure Cosmos DB where
// our engine relies on the service's behaviour (see tests/tools/cosmos/*.js, one behaviour each):
//   - plain HTTP on loopback, keep-alive, 404 for a point read of a missing document;
//   - an LSN per write and the latest-version change feed (cosmos/change-feed.js);
//   - atomic transactional batches (cosmos/batch.js);
//   - per-item TTL (cosmos/ttl.js);
//   - a container replace keeps its documents (cosmos/replace-container.js);
//   - a query with a partition key reads that partition only (cosmos/partition-scope.js);
//   - with COSMOS_STAND_IN_SEED set, the adverse mode: short and empty pages, throttling
//     (cosmos/adverse.js, cosmos/pages.js).
// GET /_stand-in/stats reports what the adverse mode injected.
// Usage: [COSMOS_STAND_IN_SEED=n] node tests/tools/cosmos-server.js PORT
"use strict";

const lsn = require("./cosmos/lsn");
const batch = require("./cosmos/batch");
const changeFeed = require("./cosmos/change-feed");
const ttl = require("./cosmos/ttl");
const replaceContainer = require("./cosmos/replace-container");
const partitionScope = require("./cosmos/partition-scope");
const pages = require("./cosmos/pages");
const { Adverse } = require("./cosmos/adverse");
const { send, documentsRoute } = require("./cosmos/http");

// A point read of a missing document makes lib/handler/read-document.js throw a TypeError
// (it reads a field of `undefined`), which the server answers 500; the service answers 404.
function answerMissingReadsWith404() {
  const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
  const original = readDocument.default;
  readDocument.default = (account, req, res, params) => {
    try {
      return original(account, req, res, params);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  };
}

// The npm server creates its one account when it starts listening; we keep a handle on it. Its
// account document names https endpoints; clients with endpoint discovery on would follow them,
// so they name the plain-HTTP endpoint actually served (Cosmos REST "Get database account").
function captureAccount() {
  const accountModule = require("@vercel/cosmosdb-server/lib/account");
  const Account = accountModule.default;
  const captured = {};
  accountModule.default = class extends Account {
    constructor(host, port) {
      super(host, port);
      for (const location of [...this._data.writableLocations, ...this._data.readableLocations]) {
        location.databaseAccountEndpoint = `http://${host}:${port}/`;
      }
      captured.account = this;
    }
  };
  return captured;
}

// Handler modules are patched before lib/routes.js (loaded by the package's index) binds them.
answerMissingReadsWith404();
batch.install();
lsn.install();
replaceContainer.install();
const captured = captureAccount();
const seed = process.env.COSMOS_STAND_IN_SEED;
const adverse = seed ? new Adverse(parseInt(seed, 10)) : null;
if (adverse) pages.install(adverse);
partitionScope.install();
const fullPages = max => max;
const NO_FAULTS = { seed: null, injected: { 408: 0, 429: 0, 503: 0 }, pages: { short: 0, empty: 0 } };

// What the stand-in answers itself before (or instead of) the npm server's handler.
function standIn(req, res, npmHandler) {
  if (req.url === "/_stand-in/stats") return send(res, 200, adverse ? adverse.stats : NO_FAULTS);
  const route = documentsRoute(req);
  if (route && captured.account) {
    ttl.purgeExpired(captured.account.database(route.dbId).collection(route.collId));
    if (adverse && adverse.maybeFail(req, res, route)) return undefined;
    if (changeFeed.isChangeFeed(req, route)) {
      const pageSize = adverse ? max => adverse.pageSize(max) : fullPages;
      return changeFeed.handle(captured.account, req, res, route, pageSize);
    }
  }
  return npmHandler(req, res);
}

const { createHttpServer } = require("@vercel/cosmosdb-server");
const port = parseInt(process.argv[2] || "8081", 10);
const server = createHttpServer({ keepAlive: true });
// An idle connection is kept as long as Azure keeps one: the account sits behind Azure's load
// balancing, whose idle timeout is 4 minutes by default ("Configure TCP reset and idle timeout
// for Azure Load Balancer", learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout).
// Node closes idle connections after 5 s, so a client reusing one just as it closed got
// "Remote end closed connection without response" far more often than against the service
// (a write then answers 503, as it must when that does happen).
server.keepAliveTimeout = 240000;
server.headersTimeout = 241000;
const [npmHandler] = server.listeners("request");
server.removeAllListeners("request");
server.on("request", (req, res) => {
  try {
    standIn(req, res, npmHandler);
  } catch (error) {
    // As lib/index.js does for its handlers: a bug of ours is a 500, not a dead server.
    console.error(error);
    send(res, 500, { message: error.message });
  }
});
server.listen(port, "127.0.0.1", () => {
  console.log(`cosmosdb-server ready on http://127.0.0.1:${port}${adverse ? ` (adverse, seed ${seed})` : ""}`);
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
