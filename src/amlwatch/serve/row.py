"""One transaction's feature row as plain Python values (no data-frame call on the hot path).

`transaction_values` is the per-transaction family of `amlwatch.features.tabular`
written for one row; values are rounded to float32 as in the batch frame. The
stream-parity test checks it against the batch features, column by column.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from amlwatch.features.tabular import PAYMENT_FORMATS

__all__ = ["transaction_values"]

_FORMAT_COLUMNS = {fmt: f"format_{fmt.lower().replace(' ', '_')}" for fmt in PAYMENT_FORMATS}


def transaction_values(
    *,
    when: dt.datetime,
    amount_paid: float,
    amount_received: float,
    payment_currency: str,
    receiving_currency: str,
    payment_format: str,
    from_bank: str,
    to_bank: str,
    same_account: bool,
    src_kind: str | None,
    dst_kind: str | None,
    src_country: str | None,
    dst_country: str | None,
) -> dict[str, float]:
    """The per-transaction features, equal to the batch family's (float32 values)."""
    values = {
        # libm's log1p, as Polars' `log1p` (Rust's ln_1p) calls.
        "log_amount_paid": math.log1p(amount_paid),
        "log_amount_received": math.log1p(amount_received),
        "round_100": float(amount_paid % 100 == 0 and amount_paid > 0),
        "round_1000": float(amount_paid % 1000 == 0 and amount_paid > 0),
        "hour": float(when.hour),
        "weekday": float(when.isoweekday()),  # 1 = Monday ... 7 = Sunday, as Polars
        "currency_mismatch": float(receiving_currency != payment_currency),
        "cross_bank": float(from_bank != to_bank),
        # A null country makes the batch comparison null, then 0.
        "cross_border": float(
            src_country is not None and dst_country is not None and src_country != dst_country
        ),
        "self_transfer": float(same_account),
        "src_corp": float(src_kind == "Corp"),
        "dst_corp": float(dst_kind == "Corp"),
    }
    for fmt, column in _FORMAT_COLUMNS.items():
        values[column] = float(payment_format == fmt)
    rounded = np.array(list(values.values()), dtype=np.float64).astype(np.float32).tolist()
    return dict(zip(values, rounded, strict=True))
