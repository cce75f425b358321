// A query sent with a partition key reads that logical partition only. The npm server ignores
// the x-ms-documentdb-partitionkey header of a query and runs it over every document of the
// container (lib/handler/query-documents.js), so its cost grew with every tenant's data, and a
// query whose text forgot its tenant filter would have read other tenants. Cosmos REST "Query
// documents": with x-ms-documentdb-partitionkey the query is served by that partition alone.
// Install after pages.js: this wrapper must see the options before the short pages do.
"use strict";

// The value at a partition key path ("/tenant_id", "/a/b") of a document.
function valueAt(doc, path) {
  return path
    .split("/")
    .filter(Boolean)
    .reduce((value, key) => (value === undefined || value === null ? undefined : value[key]), doc);
}

// The documents of a container seen through one partition (the query engine reads `_data`).
function scoped(documents, path, wanted) {
  const data = new Map();
  for (const [rid, item] of documents._data) {
    if (valueAt(item.read(), path) === wanted) data.set(rid, item);
  }
  return Object.create(documents, { _data: { value: data } });
}

function parsePartitionKey(header) {
  try {
    const value = JSON.parse(header);
    return Array.isArray(value) && value.length === 1 ? value : null;
  } catch (error) {
    return null;
  }
}

// `account` as the query handler sees it: its documents' query carries the partition key.
function withPartitionKey(account, partitionKey) {
  const collectionView = collection => {
    const documents = collection.documents;
    const query = (body, options) => documents.query(body, { ...options, partitionKey });
    return Object.create(collection, { documents: { value: Object.create(documents, { query: { value: query } }) } });
  };
  const databaseView = database =>
    Object.create(database, { collection: { value: id => collectionView(database.collection(id)) } });
  return Object.create(account, { database: { value: id => databaseView(account.database(id)) } });
}

function install() {
  const Documents = require("@vercel/cosmosdb-server/lib/account/documents").default;
  const query = Documents.prototype.query;
  Documents.prototype.query = function inOnePartition(params, options = {}) {
    const { partitionKey, ...rest } = options;
    const paths = ((this._parent.read() || {}).partitionKey || {}).paths || [];
    if (!partitionKey || paths.length !== 1) return query.call(this, params, rest);
    return query.call(scoped(this, paths[0], partitionKey[0]), params, rest);
  };
  const handlerModule = require("@vercel/cosmosdb-server/lib/handler/query-documents");
  const handler = handlerModule.default;
  handlerModule.default = (account, req, res, params) => {
    const partitionKey = parsePartitionKey(req.headers["x-ms-documentdb-partitionkey"]);
    if (!partitionKey) return handler(account, req, res, params);
    // The npm handler refuses a query whose text does not name the partition key unless it
    // is cross-partition; with the header, the service needs no such filter in the text.
    req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
    return handler(withPartitionKey(account, partitionKey), req, res, params);
  };
}

module.exports = { install };
