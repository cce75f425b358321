"""The rule tests' world: a memory store of their own and two people of one tenant."""

from __future__ import annotations

import uuid

import pytest

from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    """A memory store of the test's own (the contract in pure Python: no database)."""
    return MemoryStore()


@pytest.fixture
def boss(tenant: str) -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=tenant, email="boss@example.com", is_admin=True)


@pytest.fixture
def ana(tenant: str) -> Actor:
    return Actor(user_id=str(uuid.uuid4()), tenant_id=tenant, email="ana@example.com")
