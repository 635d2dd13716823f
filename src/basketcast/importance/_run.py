"""A finished run's files, as the importance methods read them: models, gain, cached features."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import xgboost as xgb

from basketcast.config import RunConfig, load_config
from basketcast.importance._families import feature_families
from basketcast.model import assign_folds, load_manifest, load_models

__all__ = ["RunArtifacts", "load_run"]


@dataclass(frozen=True, eq=False)
class RunArtifacts:
    """What the importance methods need from a run; `load_run` reads one from a run folder.

    Built directly (tests, notebooks) it needs no folder: `frame` holds the
    feature frame and `path` may be None.

    Attributes
    ----------
    config
        The run's resolved configuration.
    boosters
        The item model's fold -> Booster.
    feature_names
        The item model's features, in matrix column order.
    n_folds, fold_seed
        The user-grouped fold scheme the models were trained on.
    gain
        ``feature, fold, gain`` per trained fold.
    families
        Family -> its columns (defaults to basketcast's feature families).
    run_id
        The run's id from metrics.json ("" when unknown).
    path
        The run folder, where outputs are written (None: nowhere).
    features_file
        The cached item feature frame (Parquet), read when `frame` is None.
    frame
        The item feature frame itself, when it is in memory already.
    """

    config: RunConfig
    boosters: dict[int, xgb.Booster]
    feature_names: list[str]
    n_folds: int
    fold_seed: int
    gain: pl.DataFrame
    families: dict[str, list[str]] = field(default_factory=dict)
    run_id: str = ""
    path: Path | None = None
    features_file: Path | None = None
    frame: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        if not self.families:
            object.__setattr__(self, "families", feature_families(self.feature_names))

    @property
    def trained_folds(self) -> tuple[int, ...]:
        return tuple(sorted(self.boosters))

    def labelled_rows(
        self,
        *,
        columns: Sequence[str] | None = None,
        depth0: bool = False,
        user_share: float = 1.0,
        seed: int = 0,
    ) -> pl.DataFrame:
        """The feature frame's labelled rows with a ``fold`` column (the run's user-grouped folds).

        Parameters
        ----------
        columns
            Feature columns to keep (default: the model's features).
        depth0
            Only the real train orders (depth 0), not the history targets.
        user_share
            Keep this share of users, drawn with `seed` (every row of a kept user).
        """
        names = list(columns if columns is not None else self.feature_names)
        keys = ["order_id", "user_id", "product_id", "depth", "label"]
        if self.frame is not None:
            lazy = self.frame.lazy()
        elif self.features_file is not None:
            lazy = pl.scan_parquet(self.features_file)
        else:
            raise ValueError("the run has neither a feature frame nor a cached features file")
        lazy = lazy.select(*keys, *names).filter(pl.col("label").is_not_null())
        if depth0:
            lazy = lazy.filter(pl.col("depth") == 0)
        rows = lazy.collect()
        if user_share < 1.0:
            users = rows.get_column("user_id").unique().sort()
            kept = users.sample(fraction=user_share, seed=seed, shuffle=False)
            rows = rows.filter(pl.col("user_id").is_in(kept.implode()))
        return rows.with_columns(
            assign_folds(rows.get_column("user_id"), folds=self.n_folds, seed=self.fold_seed)
        )


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; {what}")
    return path


def load_run(
    path: str | Path, *, families: Mapping[str, Sequence[str]] | None = None
) -> RunArtifacts:
    """Read a folder written by `basketcast run` (its config, item models, gain and cached features).

    Raises
    ------
    FileNotFoundError
        The folder lacks a file a finished run has, named in the message.
    ValueError
        The cached features lack a column the models were trained on.
    """
    run = Path(path)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    metrics_file = _require(run / "metrics.json", "is this a finished `basketcast run` folder?")
    metrics: dict[str, Any] = json.loads(metrics_file.read_text())
    config = load_config(_require(run / "config.toml", "the run's resolved configuration"))
    models = run / "models"
    manifest = load_manifest(models, prefix="item")
    cached = sorted((run / "features").glob("items-*.parquet"))
    if len(cached) != 1:
        raise FileNotFoundError(
            f"{run / 'features'}: expected one cached item feature file (items-*.parquet), "
            f"found {len(cached)}; re-run `basketcast run` on this folder to rebuild it"
        )
    names = list(manifest["feature_names"])
    columns = pl.read_parquet_schema(cached[0])
    lacking = [n for n in names if n not in columns]
    if lacking:
        raise ValueError(
            f"{cached[0]}: {len(lacking)} of the model's features are not in the cached "
            f"features, e.g. {lacking[:5]}; re-run `basketcast run` on this folder"
        )
    gain_file = _require(models / "item_importance.parquet", "the run's gain importance")
    return RunArtifacts(
        config=config,
        boosters=load_models(models, prefix="item"),
        feature_names=names,
        n_folds=int(manifest["n_folds"]),
        fold_seed=int(manifest["seed"]),
        gain=pl.read_parquet(gain_file),
        families={k: list(v) for k, v in (families or {}).items()},
        run_id=str(metrics.get("run_id", "")),
        path=run,
        features_file=cached[0],
    )
