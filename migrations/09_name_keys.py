"""TT-14: live names are unique whatever the case of their letters, on every engine.

SQL's `lower()` folds ASCII letters only (SQLite always, PostgreSQL under the C locale), so
the SQL engines let "Ñandú" and "ñandú" both be live where Cosmos and the memory engine
refused the second. The catalogue tables get a `name_key` column (`cleaning.name_key`, the
key Cosmos name guards are made of), written by the repository, and the live-name unique index
moves onto it (`ux_<table>_live_name_key` replaces `ux_<table>_live_name`).

SQL: the column is added to tables made before this step and filled in Python for every row,
in batches; then, with each table locked against writers, the rows written meanwhile are keyed
and the indexes swapped. Data stored before may already hold live items whose names differ only
in the case of non-ASCII letters: the oldest of them (by `created_at`, then id) keeps the key,
the later ones are left with a NULL key (NULLs do not collide in a unique index) and a warning
names the tenant and the items. They keep their names, and are not counted by the unique index,
until one is renamed (or deactivated and reactivated): then the new name must be free. Run the
step with the previous version stopped: rows it writes afterwards would have no key. The new
version may already serve: the names it keys while the old index still stands ("Ñandú" and
"ñandú" both pass `lower(name)`) are settled in the locked pass, the oldest keeping the key.

Cosmos and memory: nothing to do, they already key names this way.
"""

from migrations import not_reversible, store


def up() -> None:
    target = store()
    if target.engine_name in ("sqlite", "postgresql"):
        from commons.data_access_layer.sql.name_keys import key_names

        key_names(target)  # type: ignore[arg-type]


down = not_reversible
