// Replacing a container keeps its documents. The npm server's Collections#_set builds a new
// Collection object (lib/account/items.js `_set` -> `_newItem`), whose document store is empty:
// a container replace wiped every document. Cosmos REST "Replace a collection": only the
// indexing policy (and default TTL ...) change; the partition key may not, and the documents
// stay (the service re-indexes them in the background).
"use strict";

function install() {
  const Collections = require("@vercel/cosmosdb-server/lib/account/collections").default;
  const replace = Collections.prototype.replace;
  Collections.prototype.replace = function keepDocuments(data, original) {
    const before = this._data.get(original._rid);
    const result = replace.call(this, data, original);
    const after = this._data.get(original._rid);
    if (before && after && before !== after) {
      // The old Collection object (documents, LSN and TTL state keyed on it) takes the new
      // properties and stays.
      before._data = after._data;
      this._data.set(original._rid, before);
    }
    return result;
  };
}

module.exports = { install };
