"""No leakage: changing a transaction's future (and every later transaction) leaves its features alone."""

from __future__ import annotations

import numpy as np
import polars as pl

from amlwatch.data.ledger import Ledger
from amlwatch.data.load import build_ledger
from amlwatch.data.schema import TRANSACTION_COLUMNS
from amlwatch.features import META_COLUMNS, build_features, feature_names


def _perturbed(ledger: Ledger, cut: int, seed: int) -> Ledger:
    """Rewrite every transaction after row `cut` (accounts, amounts, formats), keeping times."""
    rng = np.random.default_rng(seed)
    tx = ledger.transactions
    raw = tx.select("txn_id", *TRANSACTION_COLUMNS, "typology", "ring_id")
    later = raw[cut + 1 :]
    perm = rng.permutation(later.height)
    shuffled = later.with_columns(
        pl.col("to_bank", "to_account").gather(perm),
        (pl.col("amount_paid") * rng.uniform(0.1, 10.0, later.height)).alias("amount_paid"),
        (pl.col("amount_received") * 3.0).alias("amount_received"),
        pl.lit("Bitcoin").alias("payment_format"),
    )
    accounts = ledger.accounts.select("bank", "account", "kind", "country", "entity_id")
    return build_ledger(pl.concat([raw[: cut + 1], shuffled]), accounts, source="perturbed")


def test_features_do_not_change_when_the_future_does(small_ledger: Ledger) -> None:
    base = build_features(small_ledger)
    names = feature_names()
    for cut in (small_ledger.n_transactions // 3, small_ledger.n_transactions // 2):
        changed = build_features(_perturbed(small_ledger, cut, seed=cut))
        # The perturbed future really differs...
        assert not base[cut + 1 :].select(names).equals(changed[cut + 1 :].select(names))
        # ...and nothing up to and including the cut moved.
        left = base[: cut + 1].select(*META_COLUMNS[:1], *names)
        right = changed[: cut + 1].select(*META_COLUMNS[:1], *names)
        assert left.equals(right)


def test_a_transactions_own_fields_move_only_its_own_family(small_ledger: Ledger) -> None:
    """Changing row `cut`'s amount changes its per-transaction features and z-scores, not its history."""
    cut = small_ledger.n_transactions // 2
    tx = small_ledger.transactions
    bumped = tx.with_columns(
        pl.when(pl.int_range(pl.len()) == cut)
        .then(pl.col("amount_paid") * 7.0)
        .otherwise(pl.col("amount_paid"))
        .alias("amount_paid")
    )
    ledger = Ledger(bumped, small_ledger.accounts, small_ledger.has_labels)
    a = build_features(small_ledger)[cut]
    b = build_features(ledger)[cut]
    history = [
        n
        for n in feature_names(families=["account", "pair", "graph"])
        if not n.endswith("amount_z_30d")
    ]
    # Flow features that do not read the payment's own amount.
    history += ["flow_gather_scatter", "flow_dst_fwd_n", "flow_cycle_len"]
    assert a.select(history).equals(b.select(history))
    assert a.get_column("log_amount_paid").item() != b.get_column("log_amount_paid").item()
