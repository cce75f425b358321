"""Domain errors know nothing of HTTP; the API maps each one to its status in one table."""

from __future__ import annotations

import inspect

import pytest

from commons.domain import errors
from time_tracker_api.errors import STATUS, status_of

DOMAIN_ERRORS = [
    kind
    for _, kind in inspect.getmembers(errors, inspect.isclass)
    if issubclass(kind, errors.DomainError) and kind.__module__ == errors.__name__
]


@pytest.mark.parametrize("kind", DOMAIN_ERRORS, ids=lambda kind: kind.__name__)
def test_every_domain_error_is_listed_or_inherits_a_listed_status(kind: type[errors.DomainError]) -> None:
    assert any(ancestor in STATUS for ancestor in kind.__mro__)
    assert 400 <= status_of(kind("x")) < 600


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (errors.Invalid, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.Conflict, 409),
        (errors.PreconditionFailed, 412),
        (errors.Unprocessable, 422),
        (errors.Locked, 423),
        (errors.BadGateway, 502),
        (errors.Unavailable, 503),
        (errors.Contended, 503),
    ],
)
def test_each_domain_error_answers_its_http_status(kind: type[errors.DomainError], status: int) -> None:
    assert status_of(kind("x")) == status


def test_domain_errors_carry_no_http_status() -> None:
    assert not any(hasattr(kind, "status") for kind in DOMAIN_ERRORS)
