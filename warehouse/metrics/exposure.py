"""Which hidden cells everything published pins down, whatever equations a reader combines.

Suppression weighs each partition equation on its own (suppression.py), but equations combine: the two hidden
directorates of a division add up to a known figure in the calendar-week table, and are twins of the two
directorates that make up the same division in a week since go-live, so that division is known too, and with
it whatever it was hiding a neighbour's change behind. A hidden cell is pinned down exactly when its unit
vector lies in the row space of the equations over the hidden cells, whatever the published constants are.

Equations with a single unknown are peeled first (they settle most cells, and cheaply); what is left is split
into independent blocks, and each block's null space is taken: an unknown is determined when its row of the
null-space basis is zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

_TOL = 1e-9
_PADDED = 128  # blocks up to this many equations and unknowns are padded and stacked


def determined(equations: Sequence[Mapping[int, float]], unknowns: int) -> tuple[np.ndarray, np.ndarray]:
    """(determined, block) per unknown 0..unknowns-1, for equations given as {unknown: coefficient} (their
    right-hand sides do not matter). `block` numbers the independent blocks of what peeling left; unknowns
    settled by peeling, or in no equation, are in block -1."""
    done = np.zeros(unknowns, dtype=bool)
    block = np.full(unknowns, -1, dtype=int)
    rows, cols, data = [], [], []
    for r, terms in enumerate(equations):
        for u, c in terms.items():
            if abs(c) > _TOL:
                rows.append(r)
                cols.append(u)
                data.append(float(c))
    if not rows or unknowns == 0:
        return done, block
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
        return done, block
    sub = a[:, left]
    sub = sub[np.flatnonzero(np.diff(sub.indptr))]  # equations that still hold an unknown
    if sub.shape[0] == 0:
        return done, block
    m, n = sub.shape
    coo = sub.tocoo()
    graph = sparse.coo_matrix((np.ones(coo.nnz), (coo.row + n, coo.col)), shape=(m + n, m + n)).tocsr()
    _, label = connected_components(graph, directed=False)
    var_label, eq_label = label[:n], label[n:]
    block[left] = var_label
    done[left] = _determined_by_block(coo, var_label, eq_label)
    return done, block


def _determined_by_block(coo: sparse.coo_matrix, var_label: np.ndarray, eq_label: np.ndarray) -> np.ndarray:
    """Per unknown, whether its block's equations pin it down. Blocks are padded with zeros to sizes of powers
    of two and decomposed together per size (a zero row changes nothing; a zero column adds a null vector of
    its own, leaving the other unknowns' rows of the null space as they were): thousands of small blocks cost
    a few stacked SVDs rather than one call each."""
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
        _, sv, vt = np.linalg.svd(stack, full_matrices=True)
        top = sv.max(axis=1, initial=0.0) if sv.size else np.zeros(len(members))
        rank = (sv > 1e-9 * max(mr, nc) * top[:, None]).sum(axis=1) if sv.size else np.zeros(len(members), int)
        null = np.arange(nc)[None, :] >= rank[:, None]  # rows of vt that span the null space
        largest = np.max(np.abs(vt) * null[:, :, None], axis=1)  # per block and unknown
        unknowns = np.flatnonzero(np.isin(var_label, members))
        out[unknowns] = largest[[slot[b] for b in var_label[unknowns].tolist()], var_local[unknowns]] <= 1e-7
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
