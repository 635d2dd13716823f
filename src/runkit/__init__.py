"""Run folders and atomic writes that `basketcast run` and `amlwatch run` share.

- `runkit.io`: one file written atomically, sweeping what a killed writer
  left; `runkit.errors.WriteError` for every write that fails.
- `runkit.runfolder`: a run folder's life cycle (lock, staged outputs
  published together by one rename, manifest, sweep).
- `runkit.fault`: the kill points the fault tests use.

They live here because amlwatch never imports basketcast, and neither should
carry a copy.
"""
