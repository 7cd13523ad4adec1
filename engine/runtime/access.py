"""The access log: who read which case (audited reads) or was denied.

Every row is appended to the hash-chained access log
(:func:`engine.runtime.audit_trail.append_access`). With the database's clock
(PostgreSQL) the row is written in a transaction of its own, stamped with that
transaction's ``now()``. Otherwise (SQLite) it goes through
:meth:`CaseStore.write_grouped`, which may commit the rows of concurrent
readers together, chained in the order they are written: each reader still
returns only once its row is durable, but a burst of reads costs a few commits
instead of one each.
"""

from __future__ import annotations

from engine.runtime.audit_trail import append_access
from engine.runtime.context import EngineContext
from engine.store.interface import StoreTransaction


def record_access(
    ctx: EngineContext,
    case_id: str | None,
    *,
    actor: str,
    what: str,
    client: str | None = None,
) -> None:
    """Append one access row; returns once it is committed."""
    if ctx.use_db_clock:
        with ctx.store.write() as tx:
            now = ctx.now(tx)
            append_access(tx, actor=actor, case_id=case_id, what=what, at=now, client=client)
        return
    at = ctx.clock.now()

    def work(tx: StoreTransaction) -> None:
        append_access(tx, actor=actor, case_id=case_id, what=what, at=at, client=client)

    ctx.store.write_grouped(work)
