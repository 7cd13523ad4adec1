"""Graph checks: unreachable states, states that can never close, states without a way out.

Edges are transitions with a target; a hold state's ``@previous`` return
leads to any state that can enter it. The checks wait while some target is
missing or unknown (already reported), so one typo does not flood the report
with its consequences.
"""

from __future__ import annotations

from collections import deque

from engine.definitions.assemble import (
    PREVIOUS,
    Assembled,
    RawTransition,
    as_dict,
    as_list,
    str_list,
)
from engine.definitions.diagnostics import Diagnostic


def graph_diagnostics(asm: Assembled) -> list[Diagnostic]:
    """unreachable-state, cannot-close (errors) and no-way-out (warning) findings."""
    graph = _Graph(asm)
    graph.check_graph()
    return graph.out


class _Graph:
    def __init__(self, asm: Assembled) -> None:
        self.asm = asm
        self.states = asm.states
        self.out: list[Diagnostic] = []

    def edges(self, *, previous: bool) -> dict[str, set[str]]:
        """state -> states it can move to.

        With ``previous``, a hold state's '@previous' transition leads to every
        state that can enter it. Forward reachability does not need it: a
        return only ever goes back to a state that was already reached.
        """
        enters: dict[str, set[str]] = {n: set() for n in self.states}
        out: dict[str, set[str]] = {n: set() for n in self.states}
        for t in self.asm.transitions:
            target = t.target
            if target is not None and target in self.states:
                out[t.source].add(target)
                if target != t.source:
                    enters[target].add(t.source)
        if previous:
            for t in self.asm.transitions:
                if t.target == PREVIOUS:
                    out[t.source] |= enters[t.source]
        return out

    def broken_edges(self) -> bool:
        """Some transition's target is missing or unknown (already reported).

        The graph checks would then flood the report with consequences of
        that one mistake, so they wait until it is fixed.
        """
        for t in self.asm.transitions:
            if t.internal:
                continue
            target = t.target
            if target is None:
                return True
            if target == PREVIOUS:
                if not self.states[t.source].hold:
                    return True
            elif target not in self.states:
                return True
        return False

    def check_graph(self) -> None:
        if self.asm.incomplete or self.broken_edges():
            return
        forward = self.edges(previous=False)
        initial = self.asm.data.get("initial")
        reachable: set[str] = set()
        if isinstance(initial, str) and initial in self.states:
            reachable = _closure([initial], forward)
            for name, state in self.states.items():
                if name not in reachable:
                    self.out.append(
                        state.origin.diag(
                            (),
                            f"state '{name}' is unreachable from the initial state '{initial}'",
                            "unreachable-state",
                            key=True,
                        )
                    )
        finals = [n for n, s in self.states.items() if s.final]
        if finals:
            reverse: dict[str, set[str]] = {n: set() for n in self.states}
            for src, targets in self.edges(previous=True).items():
                for dst in targets:
                    reverse[dst].add(src)
            can_close = _closure(finals, reverse)
            for name, state in self.states.items():
                if name in can_close or (reachable and name not in reachable):
                    continue
                self.out.append(
                    state.origin.diag(
                        (),
                        f"no final state can be reached from '{name}': "
                        "a case there could never close",
                        "cannot-close",
                        key=True,
                    )
                )
        self.check_ways_out()

    def check_ways_out(self) -> None:
        item_events = item_case_events(self.asm)
        for name, state in self.states.items():
            if state.final or as_list(state.data.get("timers")):
                continue
            if any(
                _leaves(t) and (str_list(t.data.get("roles")) or t.event in item_events)
                for t in self.asm.transitions_from(name)
            ):
                continue
            self.out.append(
                state.origin.diag(
                    (),
                    f"no role can move a case out of '{name}' and it has no timer",
                    "no-way-out",
                    key=True,
                    severity="warning",
                )
            )


def item_case_events(asm: Assembled) -> set[str]:
    """Events the workflow's items send to the case (``case_event`` of a creation or an
    item transition): a case state one of them leaves has a way out."""
    events: set[str] = set()
    for raw in as_dict(asm.data.get("items")).values():
        item = as_dict(raw)
        events.update(str_list([as_dict(item.get("create")).get("case_event")]))
        for sdata in as_dict(item.get("states")).values():
            for t in as_list(as_dict(sdata).get("transitions")):
                events.update(str_list([as_dict(t).get("case_event")]))
    return events


def _leaves(t: RawTransition) -> bool:
    return t.target is not None


def _closure(start: list[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
