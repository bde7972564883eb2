"""What a reader pins down by combining equations: exposure.determined against a dense null space."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.linalg import null_space

from warehouse.metrics.exposure import Exposure, combination, determined


def dense_truth(equations: list[dict[int, float]], unknowns: int) -> np.ndarray:
    a = np.zeros((len(equations), unknowns))
    for r, terms in enumerate(equations):
        for u, c in terms.items():
            a[r, u] += c
    if not len(equations):
        return np.zeros(unknowns, dtype=bool)
    basis = null_space(a, rcond=1e-9)
    return np.max(np.abs(basis), axis=1) <= 1e-7 if basis.shape[1] else np.ones(unknowns, dtype=bool)


def test_one_unknown_in_an_equation_is_pinned_down_and_the_rest_follow() -> None:
    # parent(0) known: 1 + 2 = const;  2 alone in another equation
    pinned = determined([{1: -1.0, 2: -1.0}, {2: 1.0}], 3)
    assert pinned.tolist() == [False, True, True]


def test_two_unknowns_in_one_equation_stay_unknown() -> None:
    pinned = determined([{0: -1.0, 1: -1.0}], 2)
    assert not pinned.any()


def test_a_sum_known_in_one_grain_pins_down_the_parent_that_is_that_sum_in_the_other() -> None:
    # Calendar week: known division = directorates a(0) + b(1) + shown ones  ->  a + b known.
    # Week since go-live: division d(2) = a + b (twins of the calendar-week directorates).
    # Trust (known) = d + s(3) + shown divisions  ->  s = const - d: pinned down, as is d.
    equations = [{0: -1.0, 1: -1.0}, {2: 1.0, 0: -1.0, 1: -1.0}, {2: -1.0, 3: -1.0}]
    pinned = determined(equations, 4)
    assert pinned.tolist() == [False, False, True, True]


def test_a_twin_that_appears_as_parent_and_child_cancels_out() -> None:
    # A level-2 node with one unit is the unit: the coefficient sums to zero, leaving nothing pinned.
    pinned = determined([{0: 1.0 - 1.0}, {0: -1.0, 1: -1.0}], 2)
    assert not pinned.any()


@pytest.mark.parametrize("seed", range(40))
def test_matches_a_dense_null_space_on_random_partition_systems(seed: int) -> None:
    rng = random.Random(seed)
    unknowns = rng.randint(1, 60)
    equations = []
    for _ in range(rng.randint(0, 50)):
        size = rng.randint(1, 5)
        members = rng.sample(range(unknowns), min(size, unknowns))
        terms = {u: -1.0 for u in members}
        if rng.random() < 0.4:
            terms[members[0]] = 1.0  # a hidden parent
        equations.append(terms)
    pinned = determined(equations, unknowns)
    assert pinned.tolist() == dense_truth(equations, unknowns).tolist()


def test_large_blocks_are_solved_at_their_own_size() -> None:
    rng = random.Random(7)
    unknowns = 400
    equations = [{u: -1.0, (u + 1) % unknowns: -1.0} for u in range(unknowns)]  # one ring: all linked
    equations += [{rng.randrange(unknowns): -1.0, rng.randrange(unknowns): -1.0} for _ in range(20)]
    pinned = determined(equations, unknowns)
    assert pinned.tolist() == dense_truth(equations, unknowns).tolist()


@pytest.mark.parametrize("seed", range(10))
def test_blocks_kept_between_calls_give_the_same_answers_as_solving_afresh(seed: int) -> None:
    rng = random.Random(seed)
    exposure = Exposure()
    families = [[rng.randrange(80) for _ in range(rng.randint(2, 5))] for _ in range(60)]
    hidden = set(rng.sample(range(80), 30))
    for _ in range(6):  # each round hides a few more cells, as suppression does
        cells = sorted(hidden)
        index = {c: i for i, c in enumerate(cells)}
        equations, labels = [], []
        for f, members in enumerate(families):
            terms: dict[int, float] = {}
            for position, c in enumerate(members):
                if c in index:
                    terms[index[c]] = terms.get(index[c], 0.0) + (1.0 if position == 0 else -1.0)
            if terms:
                equations.append(terms)
                labels.append(f)
        names = [(c,) for c in cells]
        assert exposure.determined(equations, names, labels).tolist() == determined(equations, len(cells)).tolist()
        hidden |= set(rng.sample(range(80), 4))


@pytest.mark.parametrize("seed", range(40))
def test_a_combination_pins_its_unknown_down_on_its_own_and_takes_no_other_blocks_equations(seed: int) -> None:
    """The equations `combination` names pin the unknown down by themselves (so a cell hidden in none of them
    frees nothing), and lie in the unknown's block."""
    rng = random.Random(seed)
    unknowns = rng.randint(2, 40)
    equations = []
    for _ in range(rng.randint(1, 40)):
        members = rng.sample(range(unknowns), min(rng.randint(1, 4), unknowns))
        terms = {u: -1.0 for u in members}
        if rng.random() < 0.4:
            terms[members[0]] = 1.0
        equations.append(terms)
    pinned = determined(equations, unknowns)
    for u in np.flatnonzero(pinned).tolist():
        rows = combination(equations, u)
        assert rows
        assert dense_truth([equations[r] for r in rows], unknowns)[u]
        reach = {u}  # the unknowns linked to u through shared equations
        for _ in equations:
            reach |= {w for terms in equations if reach & set(terms) for w in terms}
        assert all(set(equations[r]) <= reach for r in rows)
