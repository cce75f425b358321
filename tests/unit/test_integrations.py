"""The pure parts of TT-15: token shapes and digests, Idempotency-Key values and request
fingerprints, sync cursors."""

from __future__ import annotations

import pytest

from commons.domain import tokens
from commons.domain.errors import Invalid
from time_tracker_api.idempotency import fingerprint, key_from_header


def test_a_new_token_parses_back_to_its_parts_and_matches_only_its_digest() -> None:
    raw, parsed = tokens.new_token("tenant/with.odd_chars")
    assert raw.startswith("ttp_") and tokens.parse_token(raw) == parsed
    assert tokens.matches(parsed, tokens.digest(parsed))
    other = tokens.ParsedToken(parsed.tenant_id, parsed.token_id, parsed.secret[:-1] + "x")
    assert not tokens.matches(other, tokens.digest(parsed))
    # The digest binds the secret to its tenant and id: it is useless for another token.
    moved = tokens.ParsedToken("another-tenant", parsed.token_id, parsed.secret)
    assert tokens.digest(moved) != tokens.digest(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ttp_",
        "ttp_a.b",
        "ttp_!!.0123456789abcdef0123456789abcdef." + "a" * 43,
        "eyJhbGciOi.x.y",
        "ttp_" + "a" * 400,
    ],
)
def test_anything_but_a_well_formed_token_is_refused(raw: str) -> None:
    assert tokens.parse_token(raw) is None


def test_usable_says_why_not() -> None:
    assert tokens.usable({"revoked_at": None, "expires_at": None}, 10) is None
    assert "revoked" in str(tokens.usable({"revoked_at": 5, "expires_at": None}, 10))
    assert "expired" in str(tokens.usable({"revoked_at": None, "expires_at": 10}, 10))


@pytest.mark.parametrize(("raw", "key"), [("abc", "abc"), ('"abc"', "abc"), ("  k-1 ", "k-1"), (None, None)])
def test_idempotency_keys_are_sf_strings_with_or_without_quotes(raw: str | None, key: str | None) -> None:
    assert key_from_header(raw) == key


@pytest.mark.parametrize("raw", ["", '""', "x" * 256, "caf\u00e9", "a\tb"])
def test_malformed_idempotency_keys_are_invalid(raw: str) -> None:
    with pytest.raises(Invalid):
        key_from_header(raw)


def test_a_fingerprint_compares_json_as_data_and_tells_paths_and_bodies_apart() -> None:
    same = fingerprint("POST", "/customers", b"", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("POST", "/customers", b"", b'{"b":[1,2],"a":1}') == same
    assert fingerprint("POST", "/activities", b"", b'{"a": 1, "b": [1, 2]}') != same
    assert fingerprint("POST", "/customers", b"", b'{"a": 2, "b": [1, 2]}') != same
    assert fingerprint("POST", "/customers", b"x=1", b'{"a": 1, "b": [1, 2]}') != same
    assert fingerprint("POST", "/customers", b"", b"not json") != fingerprint("POST", "/customers", b"", b"not jsoN")
