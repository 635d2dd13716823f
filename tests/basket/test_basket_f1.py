"""The expected-F1 maximiser against brute force, a pure-Python DP and known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketcast.basket import BasketChoice, best_basket, expected_f1_by_size
from basketcast.basket._reference import best_basket_python, expected_f1_table_python


def _subsets(n: int) -> np.ndarray:
    """Every subset of n items as a boolean row (row i = bits of i)."""
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


def brute_force(p: list[float], p_none: float | None) -> np.ndarray:
    """Expected F1 of every prediction, by enumerating every truth.

    Returns shape (2**n, 2): row = subset of items predicted (bits), column =
    whether the None token is predicted. Token-set F1 throughout: the truth is
    either a non-empty item set or {None}.
    """
    n = len(p)
    sets = _subsets(n)
    pa = np.asarray(p, dtype=float)
    prob = np.where(sets, pa, 1.0 - pa).prod(axis=1)  # P(truth items = set) under independence
    size = sets.sum(axis=1)
    inter = sets.astype(float) @ sets.T.astype(float)  # [prediction, truth]
    out = np.zeros((2**n, 2))
    for w in (0, 1):
        n_pred = size + w
        # truth = a non-empty item set T (never contains None)
        with np.errstate(invalid="ignore", divide="ignore"):
            f_items = np.where(
                n_pred[:, None] + size[None, :] > 0,
                2.0 * inter / (n_pred[:, None] + size[None, :]),
                0.0,
            )
        # truth = {None}: hit only if None is predicted
        f_none = 2.0 * w / (n_pred + 1.0)
        nonempty = f_items[:, 1:] @ prob[1:]
        if p_none is None:
            out[:, w] = nonempty + prob[0] * f_none  # the empty draw *is* the None order
        else:
            q = prob[1:].sum()
            cond = nonempty / q if q > 0 else np.zeros(2**n)
            out[:, w] = (1.0 - p_none) * cond + p_none * f_none
    out[0, 0] = -np.inf  # the empty prediction is never an option
    return out


def _check_against_brute(p: list[float], p_none: float | None) -> None:
    n = len(p)
    brute = brute_force(p, p_none)
    choice = best_basket(p, p_none)
    best = brute.max()
    assert choice.expected_f1 == pytest.approx(best, abs=1e-9)
    # every (k, w) value equals the brute-force value of the top-k set
    order = np.argsort(-np.asarray(p, dtype=float), kind="stable")
    table = expected_f1_by_size(p, p_none)
    for k in range(n + 1):
        bits = int(sum(1 << int(i) for i in order[:k]))
        for w in (0, 1):
            if k == 0 and w == 0:
                continue
            assert table[k, w] == pytest.approx(brute[bits, w], abs=1e-9), (k, w)
    # the chosen set itself, wherever the optimum is clear
    flat = np.sort(brute.ravel())
    if flat[-1] - flat[-2] > 1e-9:
        bits, w = np.unravel_index(np.argmax(brute), brute.shape)
        assert set(choice.items) == {i for i in range(n) if bits >> i & 1}
        assert choice.with_none == bool(w)
    # chosen basket's own value matches the brute force
    chosen_bits = int(sum(1 << i for i in choice.items))
    assert brute[chosen_bits, int(choice.with_none)] == pytest.approx(choice.expected_f1, abs=1e-9)


_special = st.sampled_from([0.0, 1.0, 1e-300, 1e-12, 1e-6, 0.5, 0.999999, 1.0 - 1e-12])
_prob = st.one_of(_special, st.floats(0.0, 1.0, allow_subnormal=False))


@st.composite
def _probabilities(draw: st.DrawFn, max_n: int = 9) -> list[float]:
    n = draw(st.integers(0, max_n))
    # a small pool drawn from makes exact ties frequent
    pool = draw(st.lists(_prob, min_size=1, max_size=4))
    return [draw(st.one_of(st.sampled_from(pool), _prob)) for _ in range(n)]


_p_none = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1e-9]), st.floats(0.0, 1.0))


@settings(max_examples=200, deadline=None)
@given(p=_probabilities(), p_none=_p_none)
def test_equals_brute_force(p: list[float], p_none: float | None) -> None:
    _check_against_brute(p, p_none)


@pytest.mark.parametrize(("seed", "separate_none"), [(0, False), (1, True)])
def test_equals_brute_force_n12(seed: int, separate_none: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 1.5, 12).tolist()
    p[3] = p[7]  # a tie
    _check_against_brute(p, 0.3 if separate_none else None)


@settings(max_examples=60, deadline=None)
@given(p=_probabilities(max_n=40), p_none=_p_none)
def test_kernel_equals_python_dp(p: list[float], p_none: float | None) -> None:
    table = expected_f1_by_size(p, p_none)
    ref = np.asarray(expected_f1_table_python(p, p_none))
    np.testing.assert_allclose(table, ref, rtol=0, atol=1e-12)
    k, with_none, value = best_basket_python(p, p_none)
    choice = best_basket(p, p_none)
    assert choice.expected_f1 == pytest.approx(value, abs=1e-12)
    options = np.sort(ref.ravel()[1:])  # [0, 0], the empty prediction, is never an option
    if options.size < 2 or options[-1] - options[-2] > 1e-9:
        assert (choice.k, choice.with_none) == (k, with_none)


def _direct_table(p: np.ndarray, p_none: float | None) -> np.ndarray:
    """Independent O(n^3) check: full Poisson-binomial of prefix and suffix per k."""
    p = np.sort(p)[::-1]
    n = p.size

    def pb(q: np.ndarray) -> np.ndarray:
        d = np.array([1.0])
        for x in q:
            d = np.convolve(d, [1.0 - x, x])
        return d

    p0 = float(np.prod(1.0 - p))
    q_any = 1.0 - p0
    pn = p0 if p_none is None else p_none
    factor = 1.0 if p_none is None else (1.0 - pn) / q_any
    out = np.zeros((n + 1, 2))
    out[0, 1] = pn
    for k in range(1, n + 1):
        dx, dy = pb(p[:k]), pb(p[k:])
        x = np.arange(k + 1)[:, None]
        y = np.arange(n - k + 1)[None, :]
        joint = dx[:, None] * dy[None, :]
        for w in (0, 1):
            out[k, w] = factor * (joint * 2 * x / (k + w + x + y)).sum()
        out[k, 1] += pn * 2 / (k + 2)
    return out


@pytest.mark.parametrize("p_none", [None, 0.25])
def test_stable_at_large_n(p_none: float | None) -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.beta(0.3, 4, 200), [0.999, 1e-8, 0.5]])
    np.testing.assert_allclose(
        expected_f1_by_size(p, p_none), _direct_table(p, p_none), rtol=1e-10, atol=1e-12
    )


def test_large_n_values_are_sane() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(0.2, 5, 2000)
    table = expected_f1_by_size(p)
    assert np.isfinite(table).all()
    assert (table >= 0).all() and (table <= 1 + 1e-12).all()


# --- known answers ---------------------------------------------------------------------


def test_single_item() -> None:
    # {item}: 0.9; {item, None}: 0.9 * 2/3 + 0.1 * 2/3; None alone: 0.1
    assert best_basket([0.9]) == BasketChoice(k=1, with_none=False, expected_f1=0.9, items=(0,))
    table = expected_f1_by_size([0.9])
    assert table[1, 1] == pytest.approx(2 / 3)
    assert table[0, 1] == pytest.approx(0.1)


def test_all_tiny_gives_none() -> None:
    choice = best_basket([1e-6] * 20)
    assert (choice.k, choice.with_none) == (0, True)
    assert choice.expected_f1 == pytest.approx((1 - 1e-6) ** 20)


def test_p_none_one_gives_none_only() -> None:
    choice = best_basket([0.9, 0.8, 0.7], p_none=1.0)
    assert (choice.k, choice.with_none, choice.expected_f1) == (0, True, 1.0)


def test_p_none_zero_with_tiny_items_conditions_on_one_present() -> None:
    # Given at least one of two equal tiny items, it is almost surely exactly one:
    # both -> 2/3, one -> 1/2.
    choice = best_basket([1e-9, 1e-9], p_none=0.0)
    assert (choice.k, choice.with_none) == (2, False)
    assert choice.expected_f1 == pytest.approx(2 / 3, abs=1e-8)


def test_no_items() -> None:
    assert best_basket([]) == BasketChoice(k=0, with_none=True, expected_f1=1.0)
    assert best_basket([], p_none=0.3).expected_f1 == pytest.approx(0.3)


def test_all_zero_with_separate_p_none() -> None:
    # No item can be right: the non-None branch scores 0 whatever is predicted.
    choice = best_basket([0.0, 0.0], p_none=0.4)
    assert (choice.k, choice.with_none, choice.expected_f1) == (0, True, 0.4)
    assert expected_f1_by_size([0.0, 0.0], p_none=0.4)[1:, 0].max() == 0.0


def test_certain_items() -> None:
    choice = best_basket([1.0, 1.0, 0.0])
    assert (choice.k, choice.with_none, choice.expected_f1) == (2, False, 1.0)
    assert set(choice.items) == {0, 1}


def test_items_follow_descending_probability() -> None:
    choice = best_basket([0.2, 0.95, 0.6, 0.9])
    assert choice.items[:2] == (1, 3)
    assert list(choice.items) == sorted(choice.items, key=lambda i: -[0.2, 0.95, 0.6, 0.9][i])


def test_ties_prefer_smaller_basket_then_no_none() -> None:
    # p_none = 0.5 and one sure item when not None: {item} = 0.5, None = 0.5,
    # {item, None} = 0.5 * 2/3 + 0.5 * 2/3 = 2/3 -> the unique best.
    assert best_basket([1.0], p_none=0.5).with_none
    # p_none = 0.5, a sure item: None alone 0.5 vs {item} 0.5 -> None alone (k = 0).
    table = expected_f1_by_size([1.0], p_none=0.5)
    assert math.isclose(table[0, 1], table[1, 0])
    # All zero with the default p_none = 1: None alone scores 1.
    assert best_basket([0.0, 0.0]) == BasketChoice(k=0, with_none=True, expected_f1=1.0)


@pytest.mark.parametrize(
    ("p", "p_none"),
    [([1.2], None), ([-0.1], None), ([float("nan")], None), ([0.5], 1.5), ([[0.5]], None)],
)
def test_rejects_bad_input(p: list[float], p_none: float | None) -> None:
    with pytest.raises(ValueError):
        best_basket(p, p_none)
