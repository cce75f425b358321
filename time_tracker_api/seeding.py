"""Realistic fake data for development and demos (`python cli.py seed`), written through the
repository contract so it works on every engine."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Store
from commons.directory import ADMIN_ROLE
from commons.domain.clock import to_ms

LOCAL = timezone(timedelta(hours=-5))
ACTIVITIES = ["Development", "Code review", "Meeting", "Design", "Testing", "Support", "Documentation"]
TECHNOLOGIES = ["python", "angular", "typescript", "postgresql", "azure", "docker", "react", "flask"]


def _workdays(before: date) -> Any:
    day = before
    while True:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            yield day


def seed(
    store: Store,
    *,
    tenants: int = 1,
    users: int = 8,
    entries: int = 2000,
    seed_value: int = 42,
    progress: Callable[[int, int], None] = lambda done, total: None,
    tenant_ids: Sequence[str] = (),
    token: Callable[[Actor], str | None] | None = None,
) -> dict[str, Any]:
    """Seed `tenants` tenants (the first ones with `tenant_ids`, the rest new); each tenant's
    report has its admin and, when `token` is given, a token for that admin."""
    from faker import Faker

    fake = Faker()
    Faker.seed(seed_value)
    rng = random.Random(seed_value)
    report: dict[str, Any] = {"tenants": []}
    per_tenant = max(0, entries // max(tenants, 1))
    done = 0
    for number in range(tenants):
        tenant = tenant_ids[number] if number < len(tenant_ids) else str(uuid.uuid4())
        people = [
            Actor(str(uuid.uuid4()), tenant, f"{name.lower().replace(' ', '.')}@example.com", name)
            for name in (fake.unique.name() for _ in range(users))
        ]
        admin = Actor(people[0].user_id, tenant, people[0].email, people[0].name, is_admin=True)
        with store.unit_of_work(admin, write=True) as uow:
            for person in people:
                uow.users.remember(person)
            uow.users.change(admin.user_id, lambda roles, groups: (sorted({*roles, ADMIN_ROLE}), groups))
            customers = [
                uow.customers.add({"name": fake.unique.company()[:50], "description": fake.catch_phrase()[:250]})
                for _ in range(5)
            ]
            projects = [
                uow.projects.add(
                    {
                        "name": f"{fake.unique.bs().title()}"[:50],
                        "customer_id": rng.choice(customers)["id"],
                        "technologies": rng.sample(TECHNOLOGIES, 2),
                    }
                )
                for _ in range(12)
            ]
            activities = [uow.activities.add({"name": name}) for name in ACTIVITIES]
            for name in TECHNOLOGIES:
                uow.technologies.add({"name": name})
        share = max(1, per_tenant // users)
        for person in people:
            with store.unit_of_work(person, write=True) as uow:
                days = _workdays(datetime.now(LOCAL).date())
                written = 0
                while written < share:
                    day = next(days)
                    moment = datetime(day.year, day.month, day.day, 9, rng.choice((0, 15, 30)), tzinfo=LOCAL)
                    while written < share and moment.hour < 18:
                        minutes = rng.choice((30, 45, 60, 90, 120, 180))
                        end = moment + timedelta(minutes=minutes)
                        uow.time_entries.add(
                            {
                                "owner_id": person.user_id,
                                "project_id": rng.choice(projects)["id"],
                                "activity_id": rng.choice(activities)["id"],
                                "description": fake.sentence(nb_words=8)[:1500],
                                "uri": f"TT-{rng.randint(1, 999)}" if rng.random() < 0.6 else None,
                                "technologies": rng.sample(TECHNOLOGIES, rng.randint(0, 3)),
                                "timezone_offset": 300,
                                "start_at": to_ms(moment),
                                "end_at": to_ms(end),
                            }
                        )
                        written += 1
                        done += 1
                        if done % 50 == 0:
                            progress(done, entries)
                        moment = end + timedelta(minutes=rng.choice((0, 5, 15, 30)))
        progress(done, entries)
        report["tenants"].append(
            {
                "tenant_id": tenant,
                "admin": {"user_id": admin.user_id, "email": admin.email},
                "users": len(people),
                "entries": share * users,
                "token": token(admin) if token is not None else None,
            }
        )
    return report
