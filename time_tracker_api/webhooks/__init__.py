"""Webhooks (`/webhooks`, admin of the tenant): signed deliveries of the tenant's writes.

`models` (the contract), `inputs` (bodies to typed values), `service` (the rules) and
`resources` (the namespace). Deliveries are made by the event pipeline and sent by the
dispatcher (commons/webhooks).
"""
