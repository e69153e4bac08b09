"""Read replicas: the monitoring site's reads on a PostgreSQL streaming replica, everything
else on the primary (docs/architecture.md "Two databases", docs/scaling.md "Read replicas").

Reads go to a replica only where a view or selector opts in, with ``reading_replica()``
(a context manager, or a decorator of a view): the pages that only show what gateways
sent (the live panel, the history, the fleet table, their CSV files, the public API's
GETs). Anything else, and inside such a block every write, every read in a transaction on
the primary and every read wrapped in ``reading_primary()`` (the access checks of
``dealers.access``), goes to the primary. A replica is used only while it answers and lags
less than ``DATABASE_REPLICA_MAX_LAG_SECONDS``; the check is one cheap query, made at most
every ``DATABASE_REPLICA_CHECK_SECONDS`` per process and replica."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

log = logging.getLogger(__name__)

REPLICA_PREFIX = "replica"

# The alias the current block reads from: None outside any block (the primary).
_reading: ContextVar[str | None] = ContextVar("essmon_reading_replica", default=None)

# Whether the replica is in recovery, whether it receives from the primary now (without
# pg_read_all_stats a role sees the receiver's row but not its status: then its being there
# is the answer), and how far its replay is behind, in seconds: nothing when it has replayed
# all it received (an idle primary sends nothing, and the last replayed commit then only
# grows old), otherwise the age of the last commit it replayed.
LAG_SQL = """
SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver
               WHERE coalesce(status, 'streaming') = 'streaming'),
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
       END
"""


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


@dataclass
class _Health:
    usable: bool
    checked_at: float
    reason: str = ""


_health: dict[str, _Health] = {}
_lock = threading.Lock()


def forget_health() -> None:
    """Check every replica again on its next use (tests, and a changed setting)."""
    with _lock:
        _health.clear()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _measure(alias: str) -> str:
    """Why ``alias`` must not be read now, or "" when it may."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, streaming, lag = cursor.fetchone()
    except (OperationalError, InterfaceError) as exc:
        # a connection to a server that went away stays broken: open a new one next time
        connections[alias].close()
        return f"unreachable ({_first_line(exc)})"
    if not in_recovery:
        # promoted, or pointed at a primary by mistake: it no longer follows ours
        return "not in recovery"
    if not streaming:
        # what it has may be long behind a primary it cannot hear, and its lag reads 0
        return "not streaming from the primary"
    if lag is None:
        return "lag unknown (nothing replayed yet)"
    limit = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    if float(lag) > limit:
        return f"lagging {float(lag):.1f} s (more than {limit} s)"
    return ""


def _set_health(alias: str, reason: str, now: float) -> None:
    """Record a check; log only when the answer changes, so a replica that stays down is
    one line in the log, not one per request."""
    with _lock:
        before = _health.get(alias)
        _health[alias] = _Health(usable=not reason, checked_at=now, reason=reason)
    was_usable = before is None or before.usable
    if was_usable and reason:
        log.warning("read replica %s not used: %s; reading from the primary", alias, reason)
    elif before is not None and not was_usable and not reason:
        log.warning("read replica %s is used again (it was: %s)", alias, before.reason)


def is_usable(alias: str) -> bool:
    now = time.monotonic()
    known = _health.get(alias)
    if known is not None and now - known.checked_at < settings.DATABASE_REPLICA_CHECK_SECONDS:
        return known.usable
    reason = _measure(alias)
    _set_health(alias, reason, now)
    return not reason


def mark_unusable(alias: str, reason: str) -> None:
    connections[alias].close()
    _set_health(alias, reason, time.monotonic())


def _pick() -> str | None:
    usable = [alias for alias in replica_aliases() if is_usable(alias)]
    return random.choice(usable) if usable else None


def current_read_alias() -> str:
    """Where a read made now goes: the block's replica, unless the primary has a
    transaction open (its reads must see its own writes)."""
    alias = _reading.get()
    if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return alias


def reading_from_replica() -> bool:
    return current_read_alias() != DEFAULT_DB_ALIAS


@contextmanager
def reading_primary() -> Iterator[None]:
    """Reads inside go to the primary, also within ``reading_replica()``: what must see a
    change the moment it is committed (who may see a gateway)."""
    token = _reading.set(None)
    try:
        yield
    finally:
        _reading.reset(token)


def _failed_here(alias: str | None) -> bool:
    """Whether the error being handled came from the replica's connection: Django flags
    the connection an error passed through (not the primary's, not a constraint's)."""
    return alias is not None and connections[alias].errors_occurred


@contextmanager
def _replica_block() -> Iterator[str | None]:
    alias = _pick() if _reading.get() is None and replica_aliases() else _reading.get()
    if alias is not None:
        connections[alias].errors_occurred = False  # so that a failure is this block's
    token = _reading.set(alias)
    try:
        yield alias
    except (OperationalError, InterfaceError) as exc:
        if alias is not None and _failed_here(alias):
            mark_unusable(alias, f"failed during a read ({_first_line(exc)})")
        raise
    finally:
        _reading.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


class _ReadingReplica:
    """``with reading_replica():`` or ``@reading_replica()``. As a decorator it runs the
    function again on the primary when the replica fails under it (the views it decorates
    only read, or write what is idempotent); as a context manager a failure marks the
    replica unusable, so the next request reads the primary."""

    def __init__(self) -> None:
        self._blocks: list[Any] = []

    def __enter__(self) -> str | None:
        block = _replica_block()
        self._blocks.append(block)
        return block.__enter__()

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._blocks.pop().__exit__(*exc_info)

    def __call__(self, function: F) -> F:
        @wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _replica_block() as alias:
                if alias is None:
                    return function(*args, **kwargs)
                try:
                    return function(*args, **kwargs)
                except (OperationalError, InterfaceError) as exc:
                    if not _failed_here(alias):
                        raise  # the primary's: running again would not help
                    mark_unusable(alias, f"failed during a read ({_first_line(exc)})")
            with reading_primary():
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def reading_replica() -> _ReadingReplica:
    return _ReadingReplica()


class ReplicaRouter:
    """Django's database router (``DATABASE_ROUTERS``): every write to the primary, reads
    where ``current_read_alias`` says, the replicas never migrated."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return current_read_alias()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # a replica holds the primary's rows: the same database

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db.startswith(REPLICA_PREFIX) else None
