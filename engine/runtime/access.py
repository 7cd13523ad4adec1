"""The access log: who read which case (audited reads) or was denied.

With the database's clock (PostgreSQL) the row is written in a transaction of
its own, stamped with that transaction's ``now()``. Otherwise (SQLite) it goes
through :meth:`CaseStore.append_access`, which may commit the rows of
concurrent readers together: each reader still returns only once its row is
durable, but a burst of reads costs a few commits instead of one each.
"""

from __future__ import annotations

from engine.runtime.context import EngineContext
from engine.store.records import AccessRecord


def record_access(ctx: EngineContext, case_id: str | None, *, actor: str, what: str) -> None:
    if ctx.use_db_clock:
        with ctx.store.write() as tx:
            tx.insert_access(AccessRecord(actor, case_id, what, ctx.now(tx)))
    else:
        ctx.store.append_access(AccessRecord(actor, case_id, what, ctx.clock.now()))
