"""An entry with its names, completed in one place: `named`.

Besides its stored fields, the API answers an entry with `project_name`, `customer_id`,
`customer_name`, `activity_name` (of its project, that project's customer and its activity)
and `owner_email`. The repositories answer reads with them (SQL joins them, Cosmos looks them
up, both from the store); `named` completes what the store cannot know:

- after a write that moved an entry, the names of the references the rules just read;
- the owners' e-mails from an external directory (Microsoft Graph), one batched lookup per
  page (`directory_emails`), which win over the e-mails the store remembers;
- a first entry of a caller the store has not seen yet: the caller's own e-mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Record
from commons.directory import Directory

#: The names of an entry's references (`UnitOfWork.time_entries.references` reads them too).
NAMES = ("project_name", "customer_id", "customer_name", "activity_name")


def named(
    entry: Record,
    *,
    references: Mapping[str, Any] | None = None,
    emails: Mapping[str, str] | None = None,
    caller_email: str | None = None,
) -> Record:
    """`entry` with its names: those of `references` when given (it was just written), the
    owner's e-mail from `emails` when given (an external directory), else as the store answered
    it, else `caller_email`."""
    if references is not None:
        entry.update({name: references[name] for name in NAMES})
    if emails is not None:
        entry["owner_email"] = emails.get(entry["owner_id"], entry.get("owner_email"))
    entry.setdefault("owner_email", caller_email)
    return entry


def directory_emails(directory: Directory | None, identity: Actor, entries: Iterable[Record]) -> dict[str, str] | None:
    """The owners' e-mails from an external directory, in one batched, cached lookup; None with
    the store's own directory (its e-mails are joined by the query already)."""
    if directory is None or not directory.external:
        return None
    owners = {e["owner_id"] for e in entries}
    return directory.emails(identity, owners) if owners else None


def all_named(entries: list[Record], directory: Directory | None, identity: Actor) -> list[Record]:
    """A page of entries with their names (the owners' e-mails from an external directory)."""
    emails = directory_emails(directory, identity, entries)
    if emails is None:
        return entries  # the store's own directory: the stores answered the e-mails it has
    return [named(entry, emails=emails) for entry in entries]
