"""Azure Functions app turning the change feed into an audit event log (see its issue)."""
