"""The access audit's chain, audit checkpoints, and the walk behind ``audit verify``.

What ``verify_audit`` checks, all in one snapshot of the database (REPEATABLE
READ on PostgreSQL, one read transaction on SQLite), so writers committing
while it runs are never reported as tampering:

- every case's history chain (seq 1, 2, ... each row's hash over its fields
  and the previous hash), and that the case row is where its chain ends: the
  version and last hash, the record (``record_hash``) and the rest of the head
  (``head_hash``: state, phase, previous state, state entry, workflow version,
  opening and closing instants);
- the access log's chain (seq 1, 2, ... each row's hash over its fields and
  the previous hash);
- the links between cases (a transfer, ``case_links``): each link's two
  history rows have its hashes and name each other, and every history row
  recording a transfer has its link (:func:`engine.runtime.continuity.check_links`);
  verifying one case checks its links against the other case's history too;
- the checkpoints: numbered 1, 2, ... each chained to the one before and
  sealed with an HMAC-SHA256 under the operator's key (``--key-file``) or,
  without a key, a plain SHA-256; every case a checkpoint names must still
  exist and its history must still hold the checkpointed row with that hash,
  and the access log must still hold the checkpointed row.

Why checkpoints rather than a global sequence: a per-case chain cannot see
its own newest rows deleted when the case row is rolled back with them, nor a
whole case deleted. A global gapless sequence would catch both, but it makes
every write in the database wait on one counter row (PostgreSQL writers of
different cases no longer run in parallel), and it still cannot see the
globally newest rows removed. A checkpoint costs nothing on the write path,
and one signed with a key the database does not hold cannot be re-forged by
someone who rewrites the database: truncation or deletion of anything a
checkpoint covers is reported. What happened after the newest checkpoint is
covered by the chains only, so operators take checkpoints on a schedule
(``casework audit checkpoint``, say hourly) and keep the printed digests
elsewhere (deleting the newest checkpoints is then visible against them).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from engine.errors import CaseNotFound
from engine.runtime.audit import GENESIS, access_hash, canonical_json, record_hash, row_hash
from engine.runtime.continuity import check_links
from engine.runtime.transact import case_head_hash
from engine.runtime.views import AuditReport, BrokenLink
from engine.store.interface import CaseStore, StoreTransaction
from engine.store.records import AccessRecord, CaseRecord, CheckpointRecord, HistoryOutcome

#: BrokenLink.case_id of a break in the access log or the checkpoints (no case id is empty)
ACCESS_LOG = ""
CHECKPOINTS = ""


def append_access(
    tx: StoreTransaction,
    *,
    actor: str,
    case_id: str | None,
    what: str,
    at: datetime,
    client: str | None = None,
) -> None:
    """Append one row to the access log, chained to the newest row (``client``: the API
    client acting on behalf of ``actor``)."""
    head = tx.access_head()
    seq, prev = (1, GENESIS) if head is None else (head[0] + 1, head[1])
    h = access_hash(
        seq=seq, actor=actor, case_id=case_id, what=what, at=at, prev_hash=prev, client=client
    )
    tx.insert_access(AccessRecord(actor, case_id, what, at, seq, prev, h, client))


# -- checkpoints -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What ``audit checkpoint`` prints: keep ``digest`` outside the database."""

    id: int
    taken_at: datetime
    cases: int
    access_seq: int
    signed: bool
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.id,
            "taken_at": self.taken_at.isoformat(),
            "cases": self.cases,
            "access_seq": self.access_seq,
            "signed": self.signed,
            "digest": self.digest,
        }


def _seal(cp: CheckpointRecord, key: bytes | None) -> str:
    doc = canonical_json(
        {
            "id": cp.id,
            "taken_at": cp.taken_at.isoformat(timespec="microseconds"),
            "heads": cp.heads,
            "access_seq": cp.access_seq,
            "access_hash": cp.access_hash,
            "prev_digest": cp.prev_digest,
            "signed": cp.signed,
        }
    ).encode()
    if key is None:
        return hashlib.sha256(doc).hexdigest()
    return hmac.new(key, doc, hashlib.sha256).hexdigest()


def take_checkpoint(store: CaseStore, now: datetime, key: bytes | None) -> Checkpoint:
    """Record every case's head and the access log's head at one snapshot.

    Raises DuplicateKey when a concurrent checkpoint took the same number.
    """
    with store.snapshot(write=True) as tx:
        previous = tx.checkpoints()
        heads = [[cid, c.version, c.last_hash] for cid, c in sorted(tx.case_heads(None).items())]
        access = tx.access_head() or (0, GENESIS)
        cp = CheckpointRecord(
            id=previous[-1].id + 1 if previous else 1,
            taken_at=now,
            heads=heads,
            access_seq=access[0],
            access_hash=access[1],
            prev_digest=previous[-1].digest if previous else GENESIS,
            signed=key is not None,
            digest="",
        )
        sealed = replace(cp, digest=_seal(cp, key))
        tx.insert_checkpoint(sealed)
    return Checkpoint(sealed.id, now, len(heads), sealed.access_seq, sealed.signed, sealed.digest)


# -- verify ----------------------------------------------------------------------------


class _Walk:
    """The state of one verify walk; ``first`` is the first broken link found."""

    def __init__(self, heads: dict[str, CaseRecord], expected: dict[str, dict[int, str]]) -> None:
        self.heads = heads
        self.expected = expected  # case id -> {seq: hash} that checkpoints require
        self.first: BrokenLink | None = None
        self.cases = 0
        self.rows = 0
        self.linked: set[tuple[str, int]] = set()  # (case, seq) of rows recording a transfer

    def fail(self, case_id: str, seq: int, reason: str) -> None:
        if self.first is None:
            self.first = BrokenLink(case_id, seq, reason)

    def close_case(self, cid: str, last: HistoryTail) -> None:
        head = self.heads.get(cid)
        if head is None:
            self.fail(cid, last.seq, "orphan_history")
        elif (head.version, head.last_hash) != (last.seq, last.hash):
            self.fail(cid, last.seq, "head_mismatch")
        elif last.record_hash is not None and record_hash(head.record) != last.record_hash:
            self.fail(cid, last.seq, "record_mismatch")
        elif last.head_hash is not None and case_head_hash(head) != last.head_hash:
            self.fail(cid, last.seq, "state_mismatch")


@dataclass
class HistoryTail:
    seq: int = 0
    hash: str = GENESIS
    record_hash: str | None = None
    head_hash: str | None = None


def _walk_cases(tx: StoreTransaction, walk: _Walk, case_id: str | None) -> None:
    current: str | None = None
    tail = HistoryTail()
    broken = False
    seen: set[str] = set()
    for row in tx.history_batches(case_id):
        cid = row.case_id
        if cid != current:
            if current is not None and not broken:
                walk.close_case(current, tail)
            current, tail, broken = cid, HistoryTail(), False
            walk.cases += 1
            seen.add(cid)
        walk.rows += 1
        if row.outcome in _LINKED_OUTCOMES:
            walk.linked.add((cid, row.seq))
        if broken or walk.first is not None:
            continue
        reason = None
        if row.seq != tail.seq + 1:
            reason = "seq_gap"
        elif row.prev_hash != tail.hash:
            reason = "prev_hash_mismatch"
        elif row_hash(row.hashed_fields()) != row.hash:
            reason = "hash_mismatch"
        elif walk.expected.get(cid, {}).pop(row.seq, row.hash) != row.hash:
            reason = "checkpoint_mismatch"
        if reason is not None:
            walk.fail(cid, row.seq, reason)
            broken = True
            continue
        tail = HistoryTail(row.seq, row.hash, row.record_hash, row.head_hash)
    if current is not None and not broken:
        walk.close_case(current, tail)
    for cid in sorted(set(walk.heads) - seen):
        walk.cases += 1
        walk.fail(cid, 1, "missing_history")
    for cid, missing in sorted(walk.expected.items()):
        if missing:  # a checkpointed row is gone: a truncated tail, or the whole case
            reason = "history_truncated" if cid in walk.heads else "case_deleted"
            walk.fail(cid, min(missing), reason)


_LINKED_OUTCOMES = (HistoryOutcome.TRANSFERRED_OUT, HistoryOutcome.TRANSFERRED_IN)


def _walk_links(tx: StoreTransaction, walk: _Walk, case_id: str | None) -> None:
    links = tx.case_links(case_id) if case_id is not None else list(tx.link_batches())
    broken = check_links(tx, links)
    if broken is not None:
        walk.fail(*broken)
    ends = {(x.source_case_id, x.source_seq) for x in links}
    ends |= {(x.target_case_id, x.target_seq) for x in links}
    for cid, seq in sorted(walk.linked - ends):
        walk.fail(cid, seq, "link_missing")


def _walk_access(
    tx: StoreTransaction, checkpointed: tuple[int, str] | None
) -> tuple[int, BrokenLink | None]:
    prev, expect, rows = GENESIS, 1, 0
    need = checkpointed
    for a in tx.access_batches():
        rows += 1
        reason = None
        if a.seq != expect:
            reason = "access_seq_gap"
        elif a.prev_hash != prev:
            reason = "access_prev_hash_mismatch"
        elif (
            access_hash(
                seq=a.seq,
                actor=a.actor,
                case_id=a.case_id,
                what=a.what,
                at=a.at,
                prev_hash=prev,
                client=a.client,
            )
            != a.hash
        ):
            reason = "access_hash_mismatch"
        elif need is not None and a.seq == need[0] and a.hash != need[1]:
            reason = "access_checkpoint_mismatch"
        if reason is not None:
            return rows, BrokenLink(ACCESS_LOG, a.seq, reason)
        if need is not None and a.seq == need[0]:
            need = None
        prev, expect = a.hash, expect + 1
    if need is not None and need[0] > 0:
        return rows, BrokenLink(ACCESS_LOG, expect, "access_truncated")
    return rows, None


def _check_checkpoints(
    cps: list[CheckpointRecord], key: bytes | None
) -> tuple[BrokenLink | None, bool]:
    """(the first broken checkpoint, whether every seal could be checked)."""
    prev = GENESIS
    checked = True
    for n, cp in enumerate(cps, start=1):
        if cp.id != n:
            return BrokenLink(CHECKPOINTS, n, "checkpoint_gap"), checked
        if cp.prev_digest != prev:
            return BrokenLink(CHECKPOINTS, cp.id, "checkpoint_chain_mismatch"), checked
        if cp.signed and key is None:
            checked = False
        elif not hmac.compare_digest(_seal(cp, key if cp.signed else None), cp.digest):
            return BrokenLink(CHECKPOINTS, cp.id, "checkpoint_seal_mismatch"), checked
        prev = cp.digest
    return None, checked


def verify_audit(store: CaseStore, case_id: str | None, key: bytes | None = None) -> AuditReport:
    """Walk every chain and checkpoint in one snapshot; report the first broken link.

    Raises CaseNotFound for an unknown ``case_id``.
    """
    with store.snapshot() as tx:
        heads = tx.case_heads(case_id)
        if case_id is not None and case_id not in heads:
            raise CaseNotFound(case_id)
        cps = tx.checkpoints()
        broken_cp, sealed = _check_checkpoints(cps, key)
        expected: dict[str, dict[int, str]] = {}
        for cp in cps:
            for cid, version, last_hash in cp.heads:
                if case_id is None or cid == case_id:
                    expected.setdefault(cid, {})[int(version)] = str(last_hash)
        walk = _Walk(heads, expected)
        if broken_cp is not None:
            walk.fail(broken_cp.case_id, broken_cp.seq, broken_cp.reason)
        _walk_cases(tx, walk, case_id)
        _walk_links(tx, walk, case_id)
        access_rows = 0
        if case_id is None:
            last = (cps[-1].access_seq, cps[-1].access_hash) if cps else None
            access_rows, broken_access = _walk_access(tx, last)
            if broken_access is not None:
                walk.fail(broken_access.case_id, broken_access.seq, broken_access.reason)
    return AuditReport(
        ok=walk.first is None,
        cases_checked=walk.cases,
        rows_checked=walk.rows,
        first_broken=walk.first,
        access_rows_checked=access_rows,
        checkpoints_checked=len(cps),
        checkpoint_seals_checked=sealed,
    )
