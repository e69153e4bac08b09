"""The monitoring pages' SQL expressions that PostgreSQL and SQLite spell differently, in
one place (docs/architecture.md, "Storage"); the telemetry app's are in
``essmon.telemetry.sql``, whose ``cursor_without_jit`` the fleet table uses too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import F, FloatField, Func, IntegerField

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler


class JsonNumber(Func):
    """``column``'s ``key`` as a float where it holds a number, else NULL: a plain cast
    would fail the whole page on PostgreSQL for one odd value."""

    output_field = FloatField()

    def __init__(self, column: str, key: str) -> None:
        if not key.isidentifier():
            raise ValueError(f"key: {key!r} is not a plain identifier")
        super().__init__(F(column))
        self.key = key

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        return self.as_sql(
            compiler,
            connection,
            **extra,
            template=f"(CASE WHEN jsonb_typeof(%(expressions)s -> '{self.key}') = 'number'"
            f" THEN (%(expressions)s ->> '{self.key}')::float8 END)",
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        return self.as_sql(
            compiler,
            connection,
            **extra,
            template=f"(CASE WHEN json_type(%(expressions)s, '$.{self.key}') IN ('integer', 'real')"
            f" THEN json_extract(%(expressions)s, '$.{self.key}') END)",
        )


class EpochSeconds(Func):
    """A timestamp as whole Unix seconds, computed by the database: turning 1,440 values
    into datetimes and back was a third of the day view's time (docs/performance.md)."""

    output_field = IntegerField()

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::bigint", **extra
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        # stored as UTC text, which julianday() reads as UTC; 2440587.5 is 1970-01-01
        return self.as_sql(
            compiler,
            connection,
            **extra,
            template="CAST(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400) AS INTEGER)",
        )
