"""Which hidden cells everything published pins down, whatever equations a reader combines.

Suppression weighs each partition equation on its own (suppression.py), but equations combine: the two hidden
directorates of a division add up to a known figure in the calendar-week table, and are twins of the two
directorates that make up the same division in a week since go-live, so that division is known too, and with
it whatever it was hiding a neighbour's change behind. A hidden cell is pinned down exactly when its unit
vector lies in the row space of the equations over the hidden cells, whatever the published constants are.

Equations with a single unknown are peeled first (they settle most cells, and cheaply); what is left splits
into independent blocks, whose singular value decompositions are taken: an unknown is determined when its
leverage (the squared norm of its column of the right singular vectors that span the row space) is 1.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from threadpoolctl import ThreadpoolController

_TOL = 1e-9
_PADDED = 128  # blocks up to this many equations and unknowns are padded and stacked
# The blocks are small and a refresh runs beside PostgreSQL: BLAS threads would only contend for the cores
# (measured: four times slower with the second core busy).
_BLAS = ThreadpoolController()


def determined(equations: Sequence[Mapping[int, float]], unknowns: int) -> np.ndarray:
    """Per unknown 0..unknowns-1, whether the equations, given as {unknown: coefficient}, pin it down (their
    right-hand sides do not matter)."""
    done = np.zeros(unknowns, dtype=bool)
    rows, cols, data = [], [], []
    for r, terms in enumerate(equations):
        for u, c in terms.items():
            if abs(c) > _TOL:
                rows.append(r)
                cols.append(u)
                data.append(float(c))
    if not rows or unknowns == 0:
        return done
    a = sparse.csr_matrix((data, (rows, cols)), shape=(len(equations), unknowns))
    a.sum_duplicates()
    a.eliminate_zeros()
    pattern = a.copy()
    pattern.data[:] = 1.0
    # Peel: an equation left with one unknown determines it; its column then drops out of every equation.
    while True:
        live = sparse.diags((~done).astype(float))
        counts = np.asarray((pattern @ live).sum(axis=1)).ravel()
        single = np.flatnonzero(counts == 1)
        if not len(single):
            break
        rows_live = (pattern[single] @ live).tocoo()
        newly = np.unique(rows_live.col)
        done[newly] = True
    left = np.flatnonzero(~done)
    if not len(left):
        return done
    sub = a[:, left]
    sub = sub[np.flatnonzero(np.diff(sub.indptr))]  # equations that still hold an unknown
    if sub.shape[0] == 0:
        return done
    m, n = sub.shape
    coo = sub.tocoo()
    graph = sparse.coo_matrix((np.ones(coo.nnz), (coo.row + n, coo.col)), shape=(m + n, m + n)).tocsr()
    _, label = connected_components(graph, directed=False)
    var_label, eq_label = label[:n], label[n:]
    done[left] = _determined_by_block(coo, var_label, eq_label)
    return done


def _determined_by_block(coo: sparse.coo_matrix, var_label: np.ndarray, eq_label: np.ndarray) -> np.ndarray:
    """Per unknown, whether its block's equations pin it down. Blocks are padded with zeros to sizes of powers
    of two and decomposed together per size (a zero row or column changes no other unknown's place in the row
    space): thousands of small blocks cost a few stacked SVDs rather than one call each."""
    n = len(var_label)
    out = np.zeros(n, dtype=bool)
    var_local, var_count = _local(var_label)
    eq_local, eq_count = _local(eq_label)
    blocks = np.unique(var_label)
    rows = np.array([eq_count.get(int(b), 0) for b in blocks])
    cols = np.array([var_count[int(b)] for b in blocks])
    # Large blocks keep their own size (padding would cost up to eight times the work), one to a stack.
    shape_of = {int(b): (_pow2(r), _pow2(c)) if max(r, c) <= _PADDED else (int(r), int(c), int(b))
                for b, r, c in zip(blocks, rows, cols, strict=True)}
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for b in blocks.tolist():
        by_shape.setdefault(shape_of[b], []).append(b)
    entry_block = var_label[coo.col]
    for (mr, nc, *_), members in by_shape.items():
        slot = {b: i for i, b in enumerate(members)}
        chosen = np.isin(entry_block, members)
        stack = np.zeros((len(members), mr, nc))
        np.add.at(stack, (np.array([slot[b] for b in entry_block[chosen].tolist()], dtype=int),
                          eq_local[coo.row[chosen]], var_local[coo.col[chosen]]), coo.data[chosen])
        # An unknown is determined when its unit vector lies in the row space: its leverage, the squared norm of
        # its column of the leading right singular vectors (one per nonzero singular value), is 1.
        with _BLAS.limit(limits=1, user_api="blas"):
            _, sv, vt = np.linalg.svd(stack, full_matrices=False)
        top = sv.max(axis=1, initial=0.0)
        rank = (sv > 1e-9 * max(mr, nc) * top[:, None]).sum(axis=1)
        spans = np.arange(vt.shape[1])[None, :] < rank[:, None]  # rows of vt that span the row space
        leverage = np.einsum("bkj,bk->bj", vt * vt, spans.astype(float))
        unknowns = np.flatnonzero(np.isin(var_label, members))
        out[unknowns] = leverage[[slot[b] for b in var_label[unknowns].tolist()], var_local[unknowns]] >= 1 - 1e-7
    return out


def _local(labels: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Each position's index within its label, and the count per label."""
    local = np.zeros(len(labels), dtype=int)
    counts: dict[int, int] = {}
    for label, positions in _groups(labels).items():
        local[positions] = np.arange(len(positions))
        counts[label] = len(positions)
    return local, counts


def _pow2(x: int) -> int:
    return 1 << max(0, int(x) - 1).bit_length()


def _groups(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Positions per label."""
    order = np.argsort(labels, kind="stable")
    split = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
    return {int(labels[g[0]]): g for g in split if len(g)}


def combination(equations: Sequence[Mapping[int, float]], unknown: int) -> list[int]:
    """The equations a combination that pins `unknown` down is made of: those with a nonzero weight in the
    least-norm combination of the equations of its block equal to its unit vector. Hiding a cell in none of
    them leaves that combination standing."""
    by_unknown: dict[int, list[int]] = {}
    for r, terms in enumerate(equations):
        for u in terms:
            by_unknown.setdefault(u, []).append(r)
    unknowns, rows, stack = {unknown}, set(), [unknown]
    while stack:
        for r in by_unknown.get(stack.pop(), ()):
            if r not in rows:
                rows.add(r)
                fresh = [w for w in equations[r] if w not in unknowns]
                unknowns.update(fresh)
                stack.extend(fresh)
    order = sorted(rows)
    column = {u: k for k, u in enumerate(sorted(unknowns))}
    a = np.zeros((len(order), len(column)))
    for k, r in enumerate(order):
        for u, c in equations[r].items():
            a[k, column[u]] = c
    target = np.zeros(len(column))
    target[column[unknown]] = 1.0
    with _BLAS.limit(limits=1, user_api="blas"):
        weights = np.linalg.lstsq(a.T, target, rcond=None)[0]
    return [order[k] for k in np.flatnonzero(np.abs(weights) > 1e-9)]


class Exposure:
    """`determined` over a system that changes a little at a time (suppression hides a few cells per round):
    the answer for each independent block is kept, and only blocks whose unknowns or equations changed are
    solved again."""

    def __init__(self) -> None:
        self._answers: dict[tuple[frozenset[Hashable], frozenset[Hashable]], dict[Hashable, bool]] = {}

    def determined(self, equations: Sequence[Mapping[int, float]], names: Sequence[Hashable],
                   labels: Sequence[Hashable], wanted: Sequence[bool] | None = None) -> np.ndarray:
        """Per unknown, whether the equations pin it down. `names` names each unknown and `labels` each equation,
        stably from one call to the next (an unknown's name must change when its coefficients could). With
        `wanted`, only blocks holding a wanted unknown are solved (the others' unknowns come back False): no
        combination of equations reaches from one block into another."""
        n = len(names)
        out = np.zeros(n, dtype=bool)
        rows = [r for r, terms in enumerate(equations) for u, c in terms.items() if abs(c) > _TOL]
        cols = [u for terms in equations for u, c in terms.items() if abs(c) > _TOL]
        m = len(equations)
        if not rows or n == 0:
            return out
        graph = sparse.coo_matrix((np.ones(len(rows)), (np.array(rows) + n, np.array(cols))),
                                  shape=(m + n, m + n)).tocsr()
        _, label = connected_components(graph, directed=False)
        var_groups, eq_groups = _groups(label[:n]), _groups(label[n:])
        missing: list[tuple[np.ndarray, np.ndarray, tuple[frozenset[Hashable], frozenset[Hashable]]]] = []
        for block, unknowns in var_groups.items():
            if wanted is not None and not any(wanted[u] for u in unknowns):
                continue
            eqs = eq_groups.get(block, np.zeros(0, dtype=int))
            key = (frozenset(names[u] for u in unknowns), frozenset(labels[e] for e in eqs))
            answer = self._answers.get(key)
            if answer is None:
                missing.append((unknowns, eqs, key))
            else:
                out[unknowns] = [answer[names[u]] for u in unknowns]
        if missing:
            position = {}
            subset: list[dict[int, float]] = []
            order: list[int] = []
            for unknowns, eqs, _ in missing:
                for u in unknowns:
                    position[int(u)] = len(order)
                    order.append(int(u))
                subset.extend({position[u]: c for u, c in equations[e].items() if abs(c) > _TOL} for e in eqs)
            pinned = determined(subset, len(order))
            for unknowns, _, key in missing:
                answer = {names[u]: bool(pinned[position[int(u)]]) for u in unknowns}
                self._answers[key] = answer
                out[unknowns] = [answer[names[u]] for u in unknowns]
        return out
