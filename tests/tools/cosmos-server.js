#!/usr/bin/env node
// Launches @vercel/cosmosdb-server for the tests: plain HTTP on loopback, keep-alive, and a
// point read of a missing document answered 404 (the server throws and answers 500).
// Usage: node tests/tools/cosmos-server.js PORT
"use strict";
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const original = readDocument.default;
readDocument.default = (account, req, res, params) => {
  try {
    return original(account, req, res, params);
  } catch (error) {
    if (error instanceof TypeError) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
    throw error;
  }
};
const { createHttpServer } = require("@vercel/cosmosdb-server");
const port = parseInt(process.argv[2] || "8081", 10);
const server = createHttpServer({ keepAlive: true }).listen(port, "127.0.0.1", () => {
  console.log(`cosmosdb-server ready on http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
