"""Input cleaning without an app: the shared field cleaning and the bodies -> typed values of
each area (their messages are the API's)."""

from __future__ import annotations

import pytest

from commons.data_access_layer.repository import CUSTOMERS, PROJECTS
from commons.domain import cleaning
from commons.domain.cleaning import UNSET
from commons.domain.errors import Invalid
from time_tracker_api.catalogue_inputs import item_changes
from time_tracker_api.time_entries.inputs import entry_changes, new_entry


def test_text_is_stripped_and_blank_is_none() -> None:
    assert cleaning.text("  a b ", "description") == "a b"
    assert cleaning.text("   ", "description") is None
    assert cleaning.text(None, "description") is None


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (3, {}, "description must be a string"),
        ("abcd", {"limit": 3}, "description is too long (at most 3 characters)"),
        (" ", {"required": True}, "description can not be empty"),
        (None, {"required": True, "empty": "Say something"}, "Say something"),
    ],
)
def test_text_refusals_name_the_field(value: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        cleaning.text(value, "description", **kwargs)  # type: ignore[arg-type]
    assert (caught.value.message, caught.value.field) == (message, "description")


def test_id_lists_are_comma_separated_or_repeated() -> None:
    assert cleaning.id_list(["a, b", "b", " ", "c,"]) == ("a", "b", "c")


def test_technologies_are_deduplicated_then_capped_never_cut() -> None:
    assert cleaning.technologies([" py", "py", "", "js"], at_most=2) == ["py", "js"]
    assert cleaning.technologies(None, at_most=2) == []
    with pytest.raises(Invalid, match="at most 1 items"):
        cleaning.technologies(["py", "js"], at_most=1)
    assert cleaning.technologies(["py", "py", " py"], at_most=1) == ["py"]  # repeats do not count
    with pytest.raises(Invalid, match="at most 2 characters each"):
        cleaning.technologies(["abc"], at_most=5, item_length=2)
    with pytest.raises(Invalid, match="array of strings"):
        cleaning.technologies("py", at_most=5)


def test_a_name_key_folds_every_letter_but_only_lowercases() -> None:
    assert cleaning.name_key("  Ñandú ") == cleaning.name_key("ñANDÚ") == "ñandú"
    # .lower(), not .casefold(): the keys of Cosmos name guards already stored are .lower()'s.
    assert cleaning.name_key("Straße") == "straße" != "STRASSE".lower()
    assert cleaning.name_key("İ" * 255) == "i\u0307" * 255  # twice the name's length (tables.py)


def test_a_new_entry_needs_its_project_and_activity() -> None:
    with pytest.raises(Invalid, match="project_id is a required property"):
        new_entry({"activity_id": "a"})
    with pytest.raises(Invalid, match="Activity id can not be empty"):
        new_entry({"project_id": "p", "activity_id": "  "})
    entry = new_entry({"project_id": " p ", "activity_id": "a", "description": None, "billable": None})
    assert entry.values() == {"project_id": "p", "activity_id": "a", "description": None}


def test_an_edit_says_what_it_changes_and_null_clears() -> None:
    edit = entry_changes({"uri": " ", "end_date": None, "technologies": ["x"], "unknown": 1})
    assert edit.values() == {"uri": None, "technologies": ["x"], "end_at": None}
    assert edit.project_id is UNSET and edit.shorten_previous is False
    with pytest.raises(Invalid, match="start_date can not be empty"):
        entry_changes({"start_date": None})
    with pytest.raises(Invalid, match="update_last_entry_if_overlap must be true or false"):
        entry_changes({"update_last_entry_if_overlap": "yes"})


def test_catalogue_bodies_keep_the_fields_of_their_spec() -> None:
    changes = item_changes(CUSTOMERS, {"name": " Acme ", "status": 0, "technologies": ["x"]}, partial=False)
    assert changes.values() == {"name": "Acme", "status": "inactive"}
    with pytest.raises(Invalid, match="name is a required property"):
        item_changes(PROJECTS, {"customer_id": "c"}, partial=False)
    many = [f"t{n}" for n in range(60)]
    with pytest.raises(Invalid, match="at most 50 items"):
        item_changes(PROJECTS, {"technologies": many}, partial=True)
    assert len(item_changes(PROJECTS, {"technologies": many[:50]}, partial=True).values()["technologies"]) == 50
