"""User-grouped folds from a stable integer hash.

Every user goes to exactly one fold, chosen by the splitmix64 finaliser of
``user_id`` mixed with the seed, computed with plain Polars integer arithmetic
(wrapping ``UInt64`` multiply, xor, floor division as a right shift). Nothing
here depends on Python's salted ``hash`` or on ``pl.hash``, whose output may
change between Polars releases; the constants are those of the reference C
implementation, so the same ``(user_id, seed, folds)`` gives the same fold on
any machine, Polars version or engine, and in any order or chunking of rows.
The unit tests pin values from a pure-Python reference to catch any drift.
"""

from __future__ import annotations

from typing import overload

import polars as pl

__all__ = ["FOLD_DTYPE", "assign_folds", "splitmix64"]

FOLD_DTYPE = pl.Int32

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB


def splitmix64(x: int) -> int:
    """The splitmix64 output for state ``x`` (pure Python; the reference for the Polars version).

    Parameters
    ----------
    x
        Any integer; taken modulo 2**64 (negative values as two's complement).

    Returns
    -------
    int
        An unsigned 64-bit hash in ``[0, 2**64)``.
    """
    z = (x + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _shift_right(z: pl.Expr, bits: int) -> pl.Expr:
    # Polars has no `>>` on expressions; for unsigned ints floor division is the same thing.
    return z // _u64(1 << bits)


def _splitmix64_expr(x: pl.Expr) -> pl.Expr:
    # UInt64 `+` and `*` wrap modulo 2**64 in Polars, exactly as in the C reference.
    z = x + _u64(_GOLDEN)
    z = (z ^ _shift_right(z, 30)) * _u64(_MUL1)
    z = (z ^ _shift_right(z, 27)) * _u64(_MUL2)
    return z ^ _shift_right(z, 31)


def _fold_expr(user_id: pl.Expr, *, folds: int, seed: int) -> pl.Expr:
    # Reinterpret (not cast) so negative ids map to their two's complement instead of failing.
    uid = user_id.cast(pl.Int64).reinterpret(signed=False)
    # Hash the seed first so nearby seeds give unrelated assignments (seed 0 vs 1 differ in every bit).
    salted = uid ^ _u64(splitmix64(seed))
    return (_splitmix64_expr(salted) % _u64(folds)).cast(FOLD_DTYPE)


@overload
def assign_folds(user_id: pl.Series, *, folds: int, seed: int) -> pl.Series: ...
@overload
def assign_folds(user_id: pl.Expr, *, folds: int, seed: int) -> pl.Expr: ...
def assign_folds(user_id: pl.Series | pl.Expr, *, folds: int, seed: int) -> pl.Series | pl.Expr:
    """Assign every user to one of ``folds`` folds by a stable hash of ``(user_id, seed)``.

    Parameters
    ----------
    user_id
        Integer user ids, as a Series or an expression (e.g. ``pl.col("user_id")``).
    folds
        Number of folds, at least 2.
    seed
        Any integer; a different seed gives an unrelated assignment.

    Returns
    -------
    pl.Series | pl.Expr
        Fold numbers in ``0..folds-1`` (Int32, named ``fold``); a Series for a
        Series input, an expression for an expression input. The split is
        multinomial, so fold sizes agree to within a few per cent once there
        are thousands of users.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if isinstance(user_id, pl.Series):
        if not user_id.dtype.is_integer():
            raise TypeError(f"user_id must be an integer column, got {user_id.dtype}")
        frame = user_id.rename("user_id").to_frame()
        return frame.select(_fold_expr(pl.col("user_id"), folds=folds, seed=seed).alias("fold"))[
            "fold"
        ]
    return _fold_expr(user_id, folds=folds, seed=seed).alias("fold")
