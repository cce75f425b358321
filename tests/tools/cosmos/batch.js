// Transactional batch, all or nothing. The npm handler (lib/handler/batch-documents.js) keeps the
// operations applied before a failing one, cannot run Patch, and reads a partition key from each
// operation, which SDK 4.17 does not send (azure/cosmos/_base.py `_format_batch_operations`: each
// operation is {operationType, id?, resourceBody?, ifMatch?, ifNoneMatch?}; the partition key is
// the request's x-ms-documentdb-partitionkey header, `_populate_batch_headers` adds
// x-ms-cosmos-is-batch-request / x-ms-cosmos-batch-atomic: True).
// Cosmos docs "Transactional batch operations": every operation shares the batch's partition
// key; if one fails, none is applied, the failing one reports its status and every other 424
// (Failed Dependency). The service then answers 207 Multi-Status (the JS SDK reads the first
// failing result out of a 207); the Python SDK (_cosmos_client_connection.py `Batch`) raises
// CosmosBatchOperationError with `error_index` = the operation whose status is >= 400 and not 424.
"use strict";

const ops = require("@vercel/cosmosdb-server/lib/handler/_document-operations");
const { patchOperation } = require("@vercel/cosmosdb-server/lib/handler/_patch-operations");
const json = require("@vercel/cosmosdb-server/lib/json").default;
const lsn = require("./lsn");
const { partitionComponents } = require("./epk");
const { isTrue } = require("./http");

// Cosmos service quotas: at most 100 operations in one transactional batch.
const MAX_OPERATIONS = 100;
const FAILED_DEPENDENCY = { statusCode: 424, requestCharge: 0 };
// x-ms-substatus 1001: the partition key of the document is not the request's.
const PARTITION_KEY_MISMATCH = 1001;

const sameComponents = (a, b) => JSON.stringify(a.map(c => (c === undefined ? {} : c))) === JSON.stringify(b);

const WRITES_A_DOCUMENT = new Set(["Create", "Upsert", "Replace"]);

// 400 for an operation whose document is not in the batch's partition (the service refuses it).
function partitionMismatch(container, op, header) {
  if (!WRITES_A_DOCUMENT.has(op.operationType) || !op.resourceBody) return null;
  if (sameComponents(partitionComponents(container.partitionKey, op.resourceBody), header)) return null;
  return { statusCode: 400, subStatusCode: PARTITION_KEY_MISMATCH };
}

// One operation through the npm server's own single-document operations.
function runOperation(collection, op, partitionKey) {
  const input = { ...op, partitionKey };
  switch (op.operationType) {
    case "Create":
      return ops.createOperation(collection, input);
    case "Upsert":
      return ops.upsertOperation(collection, input);
    case "Read":
      return ops.readOperation(collection, input);
    case "Delete":
      return ops.deleteOperation(collection, input);
    case "Replace":
      if (op.resourceBody && op.resourceBody.id !== op.id) return { statusCode: 400, body: {} };
      return ops.replaceOperation(collection, input);
    case "Patch": {
      const { operations, condition } = op.resourceBody || {};
      return patchOperation(collection, { ...input, operations, condition });
    }
    default:
      return { statusCode: 400, body: { message: `unknown operationType ${op.operationType}` } };
  }
}

const succeeded = result => ({
  statusCode: result.statusCode,
  requestCharge: 1,
  ...(result.body && result.body._etag ? { eTag: result.body._etag, resourceBody: result.body } : {}),
});

// Runs the operations in order until one fails; returns the results so far.
function runUntilFailure(collection, operations, header) {
  const container = collection.read();
  const results = [];
  for (const op of operations) {
    const refused = partitionMismatch(container, op, header);
    const result = refused || runOperation(collection, op, JSON.stringify(header));
    results.push(result);
    if (result.statusCode >= 400) break;
  }
  return results;
}

function refuse(res, status, message) {
  res.statusCode = status;
  return { code: status === 404 ? "NotFound" : "BadRequest", message };
}

// The request-level checks of the service: container, body shape, size, partition key.
function requestProblem(collection, operations, header) {
  if (!collection.read()) return [404, "Resource Not Found"];
  if (!Array.isArray(operations) || operations.length === 0) return [400, "a batch needs operations"];
  if (operations.length > MAX_OPERATIONS) return [400, `a batch has at most ${MAX_OPERATIONS} operations`];
  if (!Array.isArray(header)) return [400, "a batch needs the x-ms-documentdb-partitionkey header"];
  return null;
}

function install() {
  const batchModule = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
  const bulk = batchModule.default;
  batchModule.default = async (account, req, res, params) => {
    // Non-atomic batches are bulk requests, which SDK 4.17 does not send: left to the npm handler.
    if (!isTrue(req, "x-ms-cosmos-batch-atomic")) return bulk(account, req, res, params);
    const operations = await json(req);
    const collection = account.database(params.dbId).collection(params.collId);
    const header = req.headers["x-ms-documentdb-partitionkey"] ? JSON.parse(req.headers["x-ms-documentdb-partitionkey"]) : null;
    const problem = requestProblem(collection, operations, header);
    if (problem) return refuse(res, ...problem);
    const before = lsn.snapshot(collection);
    let results;
    try {
      // One LSN (and one etag/_ts generation) for the whole batch, as the service gives.
      results = lsn.asOneWrite(collection, () => runUntilFailure(collection, operations, header));
    } catch (error) {
      lsn.restore(collection, before);
      throw error;
    }
    const failed = results.findIndex(result => result.statusCode >= 400);
    if (failed < 0) {
      res.statusCode = 200;
      return results.map(succeeded);
    }
    lsn.restore(collection, before);
    res.statusCode = 207;
    const { statusCode, subStatusCode } = results[failed];
    return operations.map((_, i) =>
      i === failed ? { statusCode, requestCharge: 1, ...(subStatusCode ? { subStatusCode } : {}) } : FAILED_DEPENDENCY
    );
  };
}

module.exports = { install };
