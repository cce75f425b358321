// Short query pages for the adverse mode: the npm query engine fills every page.
// Cosmos REST "Query documents": a page may hold fewer than x-ms-max-item-count items, or none,
// with an x-ms-continuation while results remain; the SDK keeps asking while it has a
// continuation (azure/cosmos/_execution_context/base_execution_context.py
// `_fetch_items_helper_no_retries` skips empty pages). Lowering the page size is exact here:
// the npm engine continues from a seek position (ORDER BY values and _rid,
// @zeit/cosmosdb-query lib/helpers.js `paginate`), whatever the sizes of the pages before.
// Aggregates (`SELECT VALUE COUNT(1)` ...) come back whole in one page whatever the size asked
// (lib/transformer.js: no `paginate` for them), so only an empty page can precede them, which
// the SDK skips: their results stay exact.
"use strict";

const Documents = require("@vercel/cosmosdb-server/lib/account/documents").default;

// The continuation of an empty first page: "start over", dropped before the npm engine sees it.
const FIRST_PAGE = { standIn: "first page" };

function install(adverse) {
  const query = Documents.prototype.query;
  Documents.prototype.query = function shortPages(params, { maxItemCount, continuation }) {
    const from = continuation && continuation.standIn ? null : continuation;
    if (!(maxItemCount > 0)) return query.call(this, params, { maxItemCount, continuation: from });
    const size = adverse.pageSize(maxItemCount);
    if (size > 0) return query.call(this, params, { maxItemCount: size, continuation: from });
    if (!this._parent.read()) return null;
    this._getQuery(params.query); // a query that does not parse is refused on its first page
    return { result: [], continuation: from || FIRST_PAGE };
  };
}

module.exports = { install };
