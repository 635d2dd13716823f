"""Features as fitted families: shared statistics fitted once, per-user rows transformed anywhere.

A *family* (`FeatureFamily`) is a named group of feature columns, each with
a one-line description, and two steps:

- ``fit(history) -> stats``: what is shared across users (product
  popularity and loyalty, aisle/department reorder shares, each product's
  day-of-week profile), from *every* user's visible history of one depth;
- ``transform(frame, history, stats) -> frame``: the family's columns for
  the candidate rows of *some* users, from those users' history and the
  stats alone.

`REGISTRY` holds the families as values, in item-frame column order
(context, category, user, product, user_product, then order, which
summarises the item frame for the None model). Look up a family with
``REGISTRY.family(name)``, the owner of a column with
``REGISTRY.family_of(column)``. ``features.exclude = ["context"]`` in the
configuration switches families off by name. A family with
``default_on=False`` (``item_pattern``, ``day_gap``, ``tifu``, ``product_facts``,
``substitutes``, ``embedding``) is opt-in: computed only when ``features.include``
names it; a family goes on by default only
where ``benchmarks/ablation.py`` shows it helps on the real data sets.

The seam
--------
``fit_stats(dataset, *, config=None, depth=0, engine="auto") -> FittedStats``
    Fit on every user's history at ``depth``.
``transform_users(dataset, stats, *, config=None, engine="auto") -> FeatureFrames``
    The item rows (``.items``) and order rows (``.orders``) of the users in
    ``dataset`` at ``stats.depth``. A user's rows are the same whether
    ``dataset`` holds that user alone, a shard, or everyone.
``build_features(dataset, *, config=None, engine="auto") -> FeatureFrames``
    Every depth ``0..config.history_targets``, each fitted on its own history
    and transformed with its own stats (what ``basketcast run`` does);
    ``.stats`` holds the depth-0 statistics.
``FittedStats.save(folder)`` / ``FittedStats.load(folder)``
    Parquet plus ``manifest.json`` (format version, depth, data fingerprint,
    families); a run keeps its depth-0 statistics in ``RUN/stats/`` and
    ``basketcast predict`` transforms new data with them, never refitting.

How the next parts use it
-------------------------
Serving (one user at a time)
    Load ``FittedStats.load(run / "stats")`` once; on each request build a
    `Dataset` holding that user's orders and lines (and the products table),
    call ``transform_users(one_user, stats, config=run_config.features)``
    and predict ``.items`` / ``.orders`` with the saved models.
Dask (one shard of users per task)
    Hash users into shards; each task cuts its shard's history
    (``cut_history``) and returns partial aggregates; a reduce combines them
    into the same frames ``fit_stats`` gives; then each shard calls
    ``transform_users(shard, stats, config=...)``. Every fitted statistic
    reduces from per-shard partials, because users never span shards:

    - ``product.product``: counts and sums per product
      (``p_purchases`` = Σ n; ``p_buyers`` = Σ per-shard buyers;
      ``p_reorder_prob``, ``p_rebuy_1``, ``p_rebuy_3``, ``p_cart_mean``,
      ``p_hour_mean``, ``p_one_time_share``, ``p_reorder_after_first`` as
      Σ numerator / Σ denominator pairs, where the rebuy denominators count
      only non-null lines); ``p_cart_std`` needs (n, Σx, Σx²) per shard, or
      (n, mean, M2) combined with Chan's formula — float results then agree
      to ~1e-6, not bit for bit;
    - ``category.aisle`` / ``category.department``: (reorders, lines) pairs;
    - ``context.dow``: line counts per (product, day of week), summed, then
      divided by each product's total.
Leave-one-family-out importance
    ``REGISTRY.family(name).columns`` names the columns to drop from a built
    frame; or build with ``FeatureConfig(exclude=(name,))``. A family another
    family reads from (`FeatureFamily.needs`, e.g. context reads user,
    product and user_product columns) is still computed for it, and left
    out of the output.

Adding a family
---------------
Subclass `FeatureFamily` (override ``fit`` when it has shared statistics,
and ``transform``), describe every column it adds, and append the value to
`REGISTRY`. The assembler raises `FamilyContractError` when a transform
adds a column it does not describe or describes one it does not add.
"""

from __future__ import annotations

from basketcast.features.build import FeatureFrames, build_features, fit_stats, transform_users
from basketcast.features.family import FamilyContractError, FeatureFamily, Scope
from basketcast.features.history import History, cut_history
from basketcast.features.registry import REGISTRY, Registry, describe
from basketcast.features.stats import FittedStats, StatsError

__all__ = [
    "REGISTRY",
    "FamilyContractError",
    "FeatureFamily",
    "FeatureFrames",
    "FittedStats",
    "History",
    "Registry",
    "Scope",
    "StatsError",
    "build_features",
    "cut_history",
    "describe",
    "fit_stats",
    "transform_users",
]
