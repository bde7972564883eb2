"""Small-number suppression: no statistic of a group under the minimum size, and no way to work one out
from everything published, in any grain, at any refresh.

What a reader can combine (docs/confidentiality.md has the model and the reasons for each rule):

* Within a refresh, every partition is an equation: a parent cell is the sum of its children (cells.py
  makes the partitions complete with residual cells), for every additive statistic.
* Cells with the same rows (a wave going live on a Monday holds the same people in a calendar week and in a
  week since go-live; a level-2 node with no sub-units and its unit) are one cell twice.
* Across refreshes, a value shown twice is a difference: the people who changed in between.

The rules, applied to one metric's cells of both grains at once:

1. Primary: a cell of fewer than `minimum` people is hidden.
2. History: a shown cell whose statistics changed since they were last shown is held back ("revision")
   until at least `minimum` people have come or gone; a cell hidden at the previous refresh for another
   reason is shown only once its size has moved by at least `minimum` since then.
3. Secondary, per partition equation: the unknowns (hidden cells whose statistics a reader cannot already
   know) are none; or, with the parent known, at least two children that together hide at least `minimum`
   people, and more people than the reader knows they hold at least (one per hidden cell: a published cell
   holds someone), or every count among them would be pinned down; or, with the parent unknown, at least
   one child. A child whose statistics were shown before and
   have not changed is known, and a held cell hides only the people who changed. A violation is fixed by
   hiding the smallest child that would hide someone (then the parent; a child that is a parent settles its
   own partitions at once, since it hides no one while its children are shown), and the rules run again until
   nothing changes, so the whole org tree, every segment type and both grains end consistent.
3a. Combined: no hidden cell may be solvable from any combination of the equations (exposure.py). One that
   hides at least `minimum` people is counted as known; one that hides fewer gets a shown cell near it hidden;
   then rule 3 runs again, until no hidden cell is solvable.
4. Linked: cells with the same fingerprint are hidden together.

Every statistic of a hidden cell (value, numerator, denominator, n) is withheld, because each is additive.
Ties are broken by size then label, so the result does not depend on row order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from warehouse.metrics.exposure import Exposure, combination
from warehouse.metrics.registry import partition_of

RULES = frozenset({"primary", "secondary", "linked", "history"})  # "secondary" covers rules 3 and 3a
# What a refresh decides from its own cells alone: the same for an incremental and a full refresh of the same
# data, whatever refreshes ran before (the history rule makes decisions depend on them, by design).
WITHOUT_HISTORY = RULES - {"history"}
KEY = ["grain", "period", "segment_type", "segment_value"]
# What the previous refreshes left per cell (the engine reads them from core.metric_values).
PREVIOUS_COLUMNS = ["last_hidden", "last_reason", "last_n", "shown_value", "shown_numerator", "shown_denominator",
                    "shown_n"]
_DEPTH = {"trust": 0, "org_level_1": 1, "org_level_2": 2}


def suppress(cells: pd.DataFrame, minimum: int, previous: pd.DataFrame | None = None,
             rules: Iterable[str] = RULES) -> pd.DataFrame:
    """`cells` with `suppressed` and `suppression_reason` columns added (a new frame).

    `previous`, indexed by KEY, is each cell's state after the previous refreshes. Cells marked `frozen`
    were not recomputed: they are in the frame because they share rows or a partition with cells that were;
    they are decided like the others (their statistics did not change), except those marked
    `frozen_forced`, which stay hidden.
    """
    rules = frozenset(rules) | {"primary"}
    out = cells.copy()
    if out.empty:
        out["suppressed"] = pd.Series(dtype=bool)
        out["suppression_reason"] = pd.Series(dtype=object)
        return out
    state = _State(out, minimum, previous if "history" in rules else None)
    if "secondary" in rules or "linked" in rules:
        state.settle("secondary" in rules, "linked" in rules)
    out["suppressed"] = pd.Series(state.hidden, index=out.index, dtype=bool)
    out["suppression_reason"] = pd.Series(state.reasons, index=out.index, dtype=object)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal statistics, both missing counting as equal; sums recomputed another way may differ in the last bits."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


class _State:
    """Positional lists over the frame's rows: who is hidden, why, and how many people each hides."""

    def __init__(self, cells: pd.DataFrame, minimum: int, previous: pd.DataFrame | None) -> None:
        self.minimum = minimum
        self._cache: dict[tuple[str, int], int] = {}  # _mass and _floor, until a cell is hidden
        self.exposed: set[int] = set()  # pinned down by equations that hold no shown cell
        self._exposure = Exposure()  # which hidden cells the equations pin down, kept per block between rounds
        self._dirty: set[int] = set()  # families whose equation may have changed since last checked
        self._new: list[int] = []  # cells hidden since their equations were last marked
        self.n = [int(x) for x in cells["n"].fillna(0).tolist()]
        self.labels = [str(v) for v in cells["segment_value"].tolist()]
        self.keys = list(zip(*(cells[c].tolist() for c in KEY), strict=True))
        self.metrics = cells["metric_id"].tolist()
        self.hidden = [n < minimum for n in self.n]
        self.reasons: list[str | None] = ["primary" if h else None for h in self.hidden]
        # How many people a hidden cell keeps from a reader: all of them, unless its statistics were shown
        # before (then only those who changed since, and none if nothing did). At least one: a cell can
        # count no one in `n` (staff in scope, say) and still carry someone's records (their tickets).
        self.weight = [max(n, 1) for n in self.n]
        # How many people that is, for the rule's "at least `minimum`": a cell counting no one in `n` hides
        # someone's records but adds no one to a group's size.
        self.people = list(self.n)
        self.ever_shown = [False] * len(self.n)
        forced = cells["frozen_forced"].fillna(False).astype(bool).tolist() if "frozen_forced" in cells else []
        for i in (i for i, f in enumerate(forced) if f):  # hidden, and its statistics were not kept
            self.hidden[i] = True
            self.reasons[i] = cells["frozen_reason"].iat[i] or "secondary"
        if previous is not None and not previous.empty:
            self._history(cells, previous)
        # What each cell hides before rule 3a weighs some hidden cells as known (while they stay pinned down).
        self.base_weight, self.base_people = list(self.weight), list(self.people)
        self.fingerprints = cells["fingerprint"].tolist() if "fingerprint" in cells else [None] * len(self.n)
        self._families(cells)

    def _history(self, cells: pd.DataFrame, previous: pd.DataFrame) -> None:
        before = previous.reindex(pd.MultiIndex.from_tuples(self.keys, names=KEY))
        stats = list(zip(*(cells[c].tolist() for c in ("value", "numerator", "denominator", "n")), strict=True))
        shown = list(zip(*(before[c].tolist() for c in
                           ("shown_value", "shown_numerator", "shown_denominator", "shown_n")), strict=True))
        last_hidden = before["last_hidden"].tolist()
        last_reason = before["last_reason"].tolist() if "last_reason" in before else [None] * len(stats)
        last_n = before["last_n"].tolist()
        for i, now in enumerate(stats):
            # A held revision is weighed against the value last shown; a cell hidden for any other reason
            # against its hidden state, which a reader must not get back by seeing it again unchanged.
            was_hidden = (last_hidden[i] is True or last_hidden[i] == 1) and last_reason[i] != "revision"
            shown_n = shown[i][3]
            ever_shown = shown_n is not None and not (isinstance(shown_n, float) and math.isnan(shown_n))
            unchanged = ever_shown and all(_same(a, b) for a, b in zip(now, shown[i], strict=True))
            if ever_shown:
                self.ever_shown[i] = True
                moved = abs(self.n[i] - int(shown_n))
                self.weight[i] = self.people[i] = 0 if unchanged else max(moved, 1)
                if not self.hidden[i] and not unchanged and moved < self.minimum:
                    self._hide(i, "revision")
            if (not self.hidden[i] and was_hidden and not unchanged and last_n[i] is not None
                    and not (isinstance(last_n[i], float) and math.isnan(last_n[i]))
                    and abs(self.n[i] - int(last_n[i])) < self.minimum):
                self._hide(i, "secondary")

    def _families(self, cells: pd.DataFrame) -> None:
        position = {(m, *k): i for i, (m, k) in enumerate(zip(self.metrics, self.keys, strict=True))}
        families: dict[tuple[Any, ...], list[int]] = {}
        for i, (metric, grain, period, segment, parent_type, parent_value) in enumerate(zip(
                *(cells[c].tolist() for c in ("metric_id", "grain", "period", "segment_type",
                                              "parent_segment_type", "parent_segment_value")), strict=True)):
            if parent_type is None or (isinstance(parent_type, float) and math.isnan(parent_type)):
                continue
            families.setdefault((metric, grain, period, parent_type, parent_value, partition_of(segment)),
                                []).append(i)
        # Visited top-down (trust, then level-1 and level-2 parents), then by parent and partition: an order
        # that depends on the cells, not on the order of the rows.
        ordered = sorted(families.items(), key=lambda fc: (
            _DEPTH.get(str(fc[0][3]), 3), tuple(map(str, fc[0]))))
        self.families = [(position.get(f[:5]), sorted(children, key=lambda c: (self.keys[c][2], self.labels[c])))
                         for f, children in ordered]
        self.partitions: dict[int, list[list[int]]] = {}  # a cell's own partitions, each a list of children
        for parent, children in self.families:
            if parent is not None:
                self.partitions.setdefault(parent, []).append(children)
        linked: dict[tuple[str, str], list[int]] = {}
        for i, fingerprint in enumerate(self.fingerprints):
            if isinstance(fingerprint, str) and fingerprint:
                linked.setdefault((self.metrics[i], fingerprint), []).append(i)
        self.linked = [members for members in linked.values() if len(members) > 1]
        self._link = {i: members for members in self.linked for i in members}
        self._families_of: dict[int, list[int]] = {}  # cell -> the families it is in, as parent or child
        self._parents_of: dict[int, list[int]] = {}
        for f, (parent, children) in enumerate(self.families):
            for c in children:
                self._families_of.setdefault(c, []).append(f)
                if parent is not None:
                    self._parents_of.setdefault(c, []).append(parent)
            if parent is not None:
                self._families_of.setdefault(parent, []).append(f)

    def _hide(self, i: int, reason: str) -> None:
        self.hidden[i] = True
        self.reasons[i] = reason
        self._cache.clear()
        self._new.append(i)

    def _mass(self, i: int, people: bool = False) -> int:
        """How many people a hidden cell keeps unknown. A hidden parent is its shown children plus its hidden
        ones, so it hides no more than those do (in whichever of its partitions hides least): a hidden
        division over one shown directorate of 6 and a hidden one of 1 hides one person, not 7. With
        `people`, counted as people (`n`) rather than as cells that hide someone."""
        if not self.hidden[i] or self.weight[i] <= 0:
            return 0
        own = self.people[i] if people else self.weight[i]
        partitions = self.partitions.get(i)
        if not partitions:
            return own
        key = ("people" if people else "mass", i)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = min(own, min(sum(self._mass(c, people) for c in p) for p in partitions))
        return cached

    def _floor(self, i: int) -> int:
        """The fewest people a reader knows a hidden cell's unknown part holds: every published cell holds
        someone, so a hidden cell never shown at least one, and a hidden parent at least one per such hidden
        child. (A cell shown before hides a change, which can go either way.) When the people hidden in an
        equation are no more than that, every count in it is pinned down."""
        mass = self._mass(i)
        if mass <= 0 or self.ever_shown[i]:
            return 0
        partitions = self.partitions.get(i)
        if not partitions:
            return 1
        cached = self._cache.get(("floor", i))
        if cached is None:
            least = min(partitions, key=lambda p: sum(self._mass(c) for c in p))
            cached = self._cache[("floor", i)] = min(mass, max(1, sum(self._floor(c) for c in least)))
        return cached

    def _smallest(self, candidates: list[int]) -> int | None:
        return min(candidates, key=lambda c: (self.n[c], self.labels[c])) if candidates else None

    def _fix(self, parent: int | None, children: list[int]) -> int | None:
        """Hide one more cell if this partition's equation gives a hidden group away; the cell hidden."""
        masses = {c: self._mass(c) for c in children}
        unknown = [c for c in children if masses[c] > 0]
        eligible = [c for c in children if not self.hidden[c] and self.weight[c] > 0]
        if parent is not None and self.hidden[parent] and self.weight[parent] > 0:
            if unknown:
                return None
            victim = self._smallest(eligible)  # the children would add up to the hidden parent
        else:
            hidden = sum(self._mass(c, people=True) for c in unknown)
            if not unknown or (len(unknown) >= 2 and hidden >= self.minimum
                               and sum(masses[c] for c in unknown) > sum(self._floor(c) for c in unknown)):
                return None
            victim = self._smallest(eligible)
            if victim is None and parent is not None and not self.hidden[parent] and self.weight[parent] > 0:
                victim = parent
        if victim is None:
            return None  # nothing left that would hide anyone: what the reader can derive is already known
        self._hide(victim, "secondary")
        return victim

    def _descend(self, victim: int) -> None:
        """A cell just hidden that is a parent hides no one while its children are all shown (they add up to
        it): its own partitions are fixed at once, down to cells that hide someone, before the partition that
        hid it is checked again. Checked again first, that partition would find it hiding no one and hide a
        sibling, then the parent: a trust of 2,000 hidden to protect one ticket from a person with no unit."""
        stack = [victim]
        while stack:
            cell = stack.pop()
            for f in self._families_of.get(cell, ()):
                parent, children = self.families[f]
                if parent != cell:
                    continue
                while (hidden := self._fix(parent, children)) is not None:
                    stack.append(hidden)

    def settle(self, secondary: bool, linked: bool) -> None:
        """The rules to a fixed point; then, while any combination of equations pins a hidden cell down, the
        repair, and the rules again."""
        self._dirty = set(range(len(self.families)))
        self._new = [i for i, h in enumerate(self.hidden) if h]
        while True:
            self._rules(secondary, linked)
            if not secondary or not self._repair():
                return

    def _rules(self, secondary: bool, linked: bool) -> None:
        """Rules 3 and 4 over the partitions whose equations changed (all of them at first), in the families'
        order, until none changes: hiding a cell changes its own equations and, through the people its
        ancestors hide, theirs."""
        heap: list[int] = []
        queued: set[int] = set()
        while True:
            while self._new:
                i = self._new.pop()
                self._touch(i)
                if linked:
                    for j in self._link.get(i, ()):
                        if not self.hidden[j]:
                            self._hide(j, "linked")
            for f in self._dirty - queued:
                heapq.heappush(heap, f)
                queued.add(f)
            self._dirty.clear()
            if not heap:
                return
            f = heapq.heappop(heap)
            queued.discard(f)
            if secondary:
                parent, children = self.families[f]
                victim = self._fix(parent, children)
                if victim is not None:
                    self._descend(victim)
                    self._dirty.add(f)  # checked again once what it hid has propagated

    def _touch(self, i: int) -> None:
        """Mark the equations that cell `i` is in, and those of its ancestors, to be checked again."""
        stack, seen = [i], {i}
        while stack:
            c = stack.pop()
            self._dirty.update(self._families_of.get(c, ()))
            for parent in self._parents_of.get(c, ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)

    def _repair(self) -> bool:
        """Hidden cells that the equations of every partition, grain and period pin down together (exposure.py).
        One that hides at least `minimum` people is known while it stays pinned down, and protects nobody
        (rule 3 weighs it as shown). One that hides fewer gets a shown cell hidden in a combination of
        equations that pins it down (at most one per equation and round, since one may be enough for
        several); when that combination holds no shown cell, no hiding can help and the cell is exposed.
        Whether anything changed."""
        variable: dict[int, int] = {}
        members: list[list[int]] = []
        twins: dict[tuple[str, str], int] = {}
        for i in range(len(self.n)):
            if not self.hidden[i] or self.base_weight[i] <= 0 or i in self.exposed:
                continue
            fingerprint = self.fingerprints[i]
            key = (self.metrics[i], fingerprint) if isinstance(fingerprint, str) and fingerprint else None
            v = twins.get(key) if key else None
            if v is None:
                v = len(members)
                members.append([])
                if key:
                    twins[key] = v
            variable[i] = v
            members[v].append(i)
        equations: list[dict[int, float]] = []
        labels: list[int] = []
        for f, (parent, children) in enumerate(self.families):
            terms: dict[int, float] = {}
            if parent is not None and parent in variable:
                terms[variable[parent]] = 1.0
            for c in children:
                if c in variable:
                    terms[variable[c]] = terms.get(variable[c], 0.0) - 1.0
            if terms:
                equations.append(terms)
                labels.append(f)
        # Only blocks that hold a cell hiding fewer than `minimum` people can give a small group away.
        sensitive = [min(self.base_weight[i] for i in m) < self.minimum for m in members]
        pinned = self._exposure.determined(equations, [tuple(m) for m in members], labels, sensitive)
        changed = self._known(members, pinned, sensitive)
        found = sorted((v for v in np.flatnonzero(pinned).tolist() if sensitive[v]), key=lambda v: min(
            (self.n[i], self.metrics[i], *map(str, self.keys[i])) for i in members[v]))
        repaired: set[int] = set()  # families that got a hidden cell this round
        for v in found:
            cells = members[v]
            if min(self.base_weight[i] for i in cells) >= self.minimum:
                continue
            witness = [labels[r] for r in combination(equations, v)]
            if repaired & set(witness):
                continue  # a cell was hidden in what pins it down this round: weighed again first
            own = {f for i in cells for f in self._families_of.get(i, ())}
            candidates = sorted((c for f in witness for c in self._members(f)
                                 if not self.hidden[c] and self.weight[c] > 0),
                                key=lambda c: (not (own & set(self._families_of.get(c, ()))), self.n[c],
                                               self.labels[c]))
            if not candidates:
                self.exposed.update(cells)  # what pins it down holds no shown cell: hiding cannot help
                changed = True
                continue
            victim = candidates[0]
            self._hide(victim, "secondary")
            repaired.update(witness)
            repaired.update(self._families_of.get(victim, ()))
            changed = True
        self._cache.clear()
        return changed

    def _known(self, members: list[list[int]], pinned: np.ndarray, sensitive: list[bool]) -> bool:
        """Rule 3 weighs a pinned-down cell that hides at least `minimum` people as known, and a cell no longer
        pinned down as hiding its people again (a cell hidden since may have freed it). Whether a weight
        changed. Blocks not solved this round (no small cell in them) keep their cells' weights."""
        changed = False
        for v, cells in enumerate(members):
            if not sensitive[v] and not any(self.weight[i] != self.base_weight[i] for i in cells):
                continue
            known = bool(pinned[v]) and min(self.base_weight[i] for i in cells) >= self.minimum
            for i in cells:
                weight, people = (0, 0) if known else (self.base_weight[i], self.base_people[i])
                if (weight, people) != (self.weight[i], self.people[i]):
                    self.weight[i], self.people[i] = weight, people
                    self._touch(i)
                    changed = True
        return changed

    def _members(self, family: int) -> list[int]:
        parent, children = self.families[family]
        return children if parent is None else [parent, *children]
