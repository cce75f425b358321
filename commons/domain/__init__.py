"""Domain values and pure functions (no I/O; `now` is always an argument)."""
