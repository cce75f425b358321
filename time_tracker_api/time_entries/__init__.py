"""Time entries: clock in/out, edits, lists, summaries and reports (`/time-entries`)."""

from time_tracker_api.time_entries.resources import ns

__all__ = ["ns"]
