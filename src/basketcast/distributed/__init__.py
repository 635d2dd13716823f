"""The Dask path: user shards, map-reduced family statistics, per-shard transforms, `xgboost.dask`.

Needs the `dask` extra. Nothing on the single-machine path imports this
package; `basketcast.pipeline.run` hands a run here when a cluster is configured.
"""

from __future__ import annotations

from basketcast.distributed.cluster import ClusterError, ClusterInfo, connect, thread_split
from basketcast.distributed.run import run_on_cluster
from basketcast.distributed.shard import ShardManifest, read_manifest, shard_dataset

__all__ = [
    "ClusterError",
    "ClusterInfo",
    "ShardManifest",
    "connect",
    "read_manifest",
    "run_on_cluster",
    "shard_dataset",
    "thread_split",
]
