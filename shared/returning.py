"""Correlated subqueries in an UPDATE's RETURNING that mean the same on SQLite as on PostgreSQL.

SQLAlchemy (2.1.9) renders SQLite's RETURNING without table qualifiers and passes that down into
subqueries, so `other.conversation_id = runs.conversation_id` comes out as
`conversation_id = conversation_id`: always true for the subquery's own row, and the answer is
silently wrong (NULL). SQLite itself accepts qualified names there (checked on 3.40); this
wrapper renders its subquery with them, on every dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class Qualified(ColumnElement[Any]):
    """A scalar subquery rendered with qualified column names wherever it appears."""

    inherit_cache = True
    _traverse_internals = [("inner", InternalTraversal.dp_clauseelement)]

    def __init__(self, inner: ColumnElement[Any]) -> None:
        self.inner = inner
        self.type = inner.type


@compiles(Qualified)
def _compile(element: Qualified, compiler: SQLCompiler, **kw: Any) -> str:
    kw.pop("include_table", None)
    return compiler.process(element.inner, **kw)
