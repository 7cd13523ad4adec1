"""SQL for case links (``case_links``, revision 0013): insert one, list a case's links."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.records import CaseLinkKind, CaseLinkRecord

_COLUMNS = (
    t.case_links.c.kind,
    t.case_links.c.source_case_id,
    t.case_links.c.source_seq,
    t.case_links.c.source_hash,
    t.case_links.c.target_case_id,
    t.case_links.c.target_seq,
    t.case_links.c.target_hash,
    t.case_links.c.actor,
    t.case_links.c.created_at,
    t.case_links.c.id,
)


def _record(row: Sequence[Any]) -> CaseLinkRecord:
    kind, *rest = row
    return CaseLinkRecord(CaseLinkKind(str(kind)), *rest)


def insert_case_link(conn: sa.Connection, link: CaseLinkRecord) -> None:
    conn.execute(
        sa.insert(t.case_links).values(
            kind=link.kind.value,
            source_case_id=link.source_case_id,
            source_seq=link.source_seq,
            source_hash=link.source_hash,
            target_case_id=link.target_case_id,
            target_seq=link.target_seq,
            target_hash=link.target_hash,
            actor=link.actor,
            created_at=link.created_at,
        )
    )


def case_links(conn: sa.Connection, case_id: str) -> list[CaseLinkRecord]:
    """The links where the case is the source or the target, oldest first."""
    c = t.case_links.c
    q = (
        sa.select(*_COLUMNS)
        .where(sa.or_(c.source_case_id == case_id, c.target_case_id == case_id))
        .order_by(c.id)
    )
    return [_record(r) for r in conn.execute(q)]


def link_batches(conn: sa.Connection, batch: int = 1000) -> Iterator[CaseLinkRecord]:
    """Every link by id, read in keyset batches."""
    c = t.case_links.c
    last = 0
    while True:
        rows = conn.execute(sa.select(*_COLUMNS).where(c.id > last).order_by(c.id).limit(batch))
        links = [_record(r) for r in rows]
        if not links:
            return
        yield from links
        last = links[-1].id or last
