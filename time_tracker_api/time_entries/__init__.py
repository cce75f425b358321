"""Time entries: clock in/out, edits, lists, summaries and reports (`/time-entries`).

`models` (the contract), `inputs` (bodies to typed values), `service` (the writing rules),
`queries` and `reports` (reads), `names` (an entry with its names), `resources` (the
namespace). Importing a service does not import Flask: only `resources` does.
"""
