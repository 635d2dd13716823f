"""Per-transaction features: what the transaction itself says (streamable, no history)."""

from __future__ import annotations

import polars as pl

from amlwatch.data.schema import PAYMENT_FORMATS
from amlwatch.features.registry import register

__all__ = ["PAYMENT_FORMATS", "transaction_features"]

register("log_amount_paid", "transaction", "log(1 + Amount Paid), in the payment currency")
register(
    "log_amount_received", "transaction", "log(1 + Amount Received), in the receiving currency"
)
register("round_100", "transaction", "Amount Paid is a whole multiple of 100")
register("round_1000", "transaction", "Amount Paid is a whole multiple of 1,000")
register("hour", "transaction", "hour of the day (0-23) of the timestamp")
register("weekday", "transaction", "day of the week (1 = Monday ... 7 = Sunday)")
register("currency_mismatch", "transaction", "receiving currency differs from payment currency")
register("cross_bank", "transaction", "sender's and receiver's banks differ")
register(
    "cross_border", "transaction", "sender's and receiver's countries differ (0 without countries)"
)
register("self_transfer", "transaction", "sender and receiver are the same account")
register("src_corp", "transaction", "the sender is a company (accounts file; 0 when unknown)")
register("dst_corp", "transaction", "the receiver is a company (accounts file; 0 when unknown)")
for _fmt in PAYMENT_FORMATS:
    register(f"format_{_fmt.lower().replace(' ', '_')}", "transaction", f"Payment Format is {_fmt}")


def transaction_features(tx: pl.LazyFrame) -> pl.LazyFrame:
    """The per-transaction columns for a ledger's transactions (same rows, same order)."""
    paid = pl.col("amount_paid")
    flag = pl.Float32
    exprs = [
        paid.log1p().cast(flag).alias("log_amount_paid"),
        pl.col("amount_received").log1p().cast(flag).alias("log_amount_received"),
        ((paid % 100 == 0) & (paid > 0)).cast(flag).alias("round_100"),
        ((paid % 1000 == 0) & (paid > 0)).cast(flag).alias("round_1000"),
        pl.col("timestamp").dt.hour().cast(flag).alias("hour"),
        pl.col("timestamp").dt.weekday().cast(flag).alias("weekday"),
        (pl.col("receiving_currency") != pl.col("payment_currency"))
        .cast(flag)
        .alias("currency_mismatch"),
        (pl.col("from_bank") != pl.col("to_bank")).cast(flag).alias("cross_bank"),
        (pl.col("src_country") != pl.col("dst_country"))
        .fill_null(False)
        .cast(flag)
        .alias("cross_border"),
        (pl.col("src") == pl.col("dst")).cast(flag).alias("self_transfer"),
        (pl.col("src_kind") == "Corp").fill_null(False).cast(flag).alias("src_corp"),
        (pl.col("dst_kind") == "Corp").fill_null(False).cast(flag).alias("dst_corp"),
    ]
    exprs += [
        (pl.col("payment_format") == fmt)
        .cast(flag)
        .alias(f"format_{fmt.lower().replace(' ', '_')}")
        for fmt in PAYMENT_FORMATS
    ]
    return tx.select(exprs)
