"""A finished run's files, as the importance methods read them: models, gain, cached features."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import polars as pl
import xgboost as xgb

from basketcast.cached_stages import features_key
from basketcast.config import RunConfig, load_config
from basketcast.errors import UsageError
from basketcast.importance._families import feature_families
from basketcast.model import assign_folds, load_manifest, load_models
from basketcast.model.folds import FOLD_DTYPE
from basketcast.runfolder import MANIFEST, published_folder, read_manifest, verify_outputs
from basketcast.stage_cache import StageCache

__all__ = ["RunArtifacts", "cached_item_features", "gain_table", "load_run", "published_run"]


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
    run_id, invocation_id
        The run's id and its `run` call's invocation id, from metrics.json ("" when unknown).
    path
        The run folder; importance files go to its ``explanations/`` (None: nowhere).
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
    invocation_id: str = ""
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
            raise UsageError("the run has neither a feature frame nor a cached features file")
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


def gain_table(boosters: Mapping[int, xgb.Booster], names: Sequence[str]) -> pl.DataFrame:
    """``feature, fold, gain`` (total gain) of each fold's model, as training records it.

    The saved models are the early-stopped ones, so this is the table
    `basketcast.model.train.train_cv` returned (features a fold never split on: 0).
    """
    rows = []
    for fold, booster in sorted(boosters.items()):
        score = booster.get_score(importance_type="total_gain")
        gain = {n: float(cast(float, score.get(n, 0.0))) for n in names}  # scalars for total_gain
        rows += [{"feature": n, "fold": fold, "gain": g} for n, g in gain.items()]
    return pl.DataFrame(rows, schema={"feature": pl.String, "fold": FOLD_DTYPE, "gain": pl.Float64})


def published_run(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The folder of `path`'s published invocation (see `basketcast.runfolder`) and its metrics.

    Its configuration, metrics and models are checked against the manifest
    (``run.json``) first; a reader that uses the returned folder reads one
    invocation throughout, even while another run publishes into `path`.

    Raises
    ------
    FileNotFoundError
        `path` is not a finished single-machine run.
    basketcast.errors.UsageError
        A checked file is missing or corrupt, named in the message.
    """
    run = Path(path)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    if not (run / MANIFEST).exists() and (run / "metrics.json").is_file():
        # `basketcast run --cluster` writes its outputs in place, without a manifest.
        raise FileNotFoundError(
            f"{run / MANIFEST}: missing; {run} was written by `basketcast run --cluster` or by a "
            "version before run manifests: re-run it on one machine"
        )
    read_manifest(run)  # "… is not a finished basketcast run" when there is none
    folder = published_folder(run)
    verify_outputs(folder, ["config.toml", "metrics.json", "models"])
    metrics: dict[str, Any] = json.loads((folder / "metrics.json").read_text())
    if metrics.get("cluster"):
        # A `--cluster` run is published like any run, but keeps neither the single-process
        # feature cache nor the metrics that `importance` and `report` read.
        raise FileNotFoundError(
            f"{run} was written by `basketcast run --cluster`: explaining or re-rendering it "
            "is single-machine only for now; re-run it on one machine"
        )
    return folder, metrics


def cached_item_features(
    run: str | Path, *, fingerprint: str, config: RunConfig, data: str | None = None
) -> Path:
    """The run's item feature frame (Parquet) from its intact features cache entry.

    The entry is ``RUN/cache/features`` (`basketcast.cached_stages`); it counts
    only when its key is this run's and every file matches its manifest. `data`
    is the folder the run recorded, named in the message so it can be pasted.

    Raises
    ------
    FileNotFoundError
        No intact entry for this run; the message says why and how to rebuild it.
    """
    cache = StageCache(Path(run) / "cache" / "features")
    files = cache.load(features_key(fingerprint, config))
    if files is None or "items.parquet" not in files:
        why = cache.note or "missing, or built for another configuration"
        source = shlex.quote(data) if data else "DATA"
        raise FileNotFoundError(
            f"{cache.folder}: no intact cached feature frame for this run ({why}); re-run "
            f"`basketcast run {source} --out {run} --config {Path(run) / 'config.toml'}` to "
            "rebuild it (the trained models are reused from the cache)"
        )
    return files["items.parquet"]


def load_run(
    path: str | Path, *, families: Mapping[str, Sequence[str]] | None = None
) -> RunArtifacts:
    """Read a folder written by `basketcast run`: config, item models, gain and cached features.

    The configuration, metrics and models come from the published invocation,
    checked against ``run.json``; the feature frame from the self-checking
    features cache (``RUN/cache/features``). Nothing is recomputed.

    Raises
    ------
    FileNotFoundError
        Not a finished run, or its feature cache is gone or damaged (the message says how to rebuild).
    basketcast.errors.UsageError
        A published file is corrupt, or the cached features lack a model feature.
    """
    run = Path(path)
    folder, metrics = published_run(run)
    config = load_config(folder / "config.toml")
    models = folder / "models"
    manifest = load_manifest(models, prefix="item")
    names = list(manifest["feature_names"])
    features = cached_item_features(
        run,
        fingerprint=str(metrics["data_fingerprint"]),
        config=config,
        data=metrics.get("data"),
    )
    columns = pl.read_parquet_schema(features)
    lacking = [n for n in names if n not in columns]
    if lacking:
        raise UsageError(
            f"{features}: {len(lacking)} of the model's features are not in the cached "
            f"features, e.g. {lacking[:5]}; re-run `basketcast run` on this folder"
        )
    boosters = load_models(models, prefix="item")
    return RunArtifacts(
        config=config,
        boosters=boosters,
        feature_names=names,
        n_folds=int(manifest["n_folds"]),
        fold_seed=int(manifest["seed"]),
        gain=gain_table(boosters, names),
        families={k: list(v) for k, v in (families or {}).items()},
        run_id=str(metrics.get("run_id", "")),
        invocation_id=str(metrics.get("invocation_id", "")),
        path=run,
        features_file=features,
    )
