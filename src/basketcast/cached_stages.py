"""The expensive stages behind their self-checking caches: features (with fitted statistics) and training.

Each stage's cache is a `basketcast.stage_cache.StageCache` entry under
``RUN/cache/<stage>``; a hit skips the work, a damaged entry is recomputed
with a note (said through `note`). What a stage contributes to the run's
final outputs (the fitted statistics, the model files) is staged from the
cache entry's files into the run folder's outputs (`RunFolder.link_output`),
so it is published with the rest of the run. A new stage with outputs
follows the same two steps: load or compute its entry, then stage its files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import polars as pl

from basketcast._meter import StageMeter
from basketcast.config import RunConfig
from basketcast.data.dataset import Dataset
from basketcast.device import polars_engine
from basketcast.features.assemble import order_frame
from basketcast.features.build import FeatureFrames, build_depths
from basketcast.features.stats import FittedStats
from basketcast.inference import STATS_DIR
from basketcast.io import parquet_appender, read_parquet_in_slices, write_frame
from basketcast.model.cache import load_cv_result, model_files, save_cv_result
from basketcast.model.train import CVResult, train_cv
from basketcast.runfolder import RunFolder
from basketcast.stage_cache import StageCache

__all__ = ["Note", "cached_features", "cached_training", "features_key", "stage_key"]

Note = Callable[[str, str | None], None]
"""note(stage, text): a finding worth telling the user (None: nothing to tell)."""


def stage_key(*parts: str) -> str:
    """A stage's cache key: a short hash of what its result depends on."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def features_key(fingerprint: str, config: RunConfig) -> str:
    """The features stage's cache key (``RUN/cache/features``); readers of the entry use it too."""
    return stage_key(fingerprint, config.stage_hash("features"))


def cached_features(
    dataset: Dataset, folder: RunFolder, fingerprint: str, config: RunConfig, note: Note
) -> tuple[FeatureFrames, bool]:
    key = features_key(fingerprint, config)
    cache = StageCache(folder.cache("features"))
    files = cache.load(key)
    if files is not None:
        try:
            frames = FeatureFrames(
                items=read_parquet_in_slices(files["items.parquet"]),
                orders=pl.read_parquet(files["orders.parquet"]),
            )
            _publish_stats(folder, cache.folder)
            return frames, True
        except (OSError, KeyError, pl.exceptions.PolarsError) as exc:
            cache.invalidate(
                f"{cache.folder} could not be read ({type(exc).__name__}); recomputing"
            )
    note("features", cache.note)
    engine = polars_engine(gpu=config.features.gpu_engine)
    orders: list[pl.DataFrame] = []
    stats0: FittedStats | None = None
    with cache.entry(key) as entry:
        items_path = entry.path("items.parquet")
        # Each part of a depth goes to disk as soon as it is built and the stage reads them
        # back at the end, so the peak holds one part's build, not every earlier depth beside it.
        # A cache: lz4 writes in half the time of zstd, and reads faster too.
        with parquet_appender(items_path, compression="lz4") as append:
            for depth, part, stats in build_depths(dataset, config=config.features, engine=engine):
                orders.append(order_frame(part, config.features))
                append(part)
                del part
                if depth == 0:
                    stats0 = stats
        assert stats0 is not None
        frames = FeatureFrames(
            items=read_parquet_in_slices(items_path), orders=pl.concat(orders), stats=stats0
        )
        write_frame(frames.orders, entry.path("orders.parquet"), compression="lz4")
        stats_folder = replace(stats0, fingerprint=fingerprint, key=key).save(
            cache.folder / STATS_DIR
        )
        for path in sorted(stats_folder.iterdir()):
            entry.path(f"{STATS_DIR}/{path.name}")
    _publish_stats(folder, cache.folder)
    return frames, False


def _publish_stats(folder: RunFolder, cache: Path) -> None:
    """The run's fitted statistics are a final output: the cache entry's files, published."""
    for path in sorted((cache / STATS_DIR).iterdir()):
        if not path.name.startswith("."):
            folder.link_output(path, f"{STATS_DIR}/{path.name}")


def cached_training(
    frame: pl.DataFrame,
    folder: RunFolder,
    name: str,
    key: str,
    config: RunConfig,
    device: str,
    meter: StageMeter,
    note: Note,
) -> tuple[CVResult, bool]:
    cache = StageCache(folder.cache(name))
    result = load_cv_result(cache, prefix=name, key=key)
    cached = result is not None
    if result is None:
        note(meter.name, cache.note)
        result = train_cv(
            frame,
            config=config.model,
            device=device,
            threads=config.threads,
            progress=lambda fold, text: meter.message(f"fold {fold}: {text}"),
        )
        save_cv_result(result, cache, prefix=name, key=key)
    for file in model_files(result, name):  # the published models are the cache entry's files
        folder.link_output(cache.folder / file, f"models/{file}")
    return result, cached
