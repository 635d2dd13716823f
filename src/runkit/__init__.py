"""Run folders, atomic writes and file checks that basketcast and amlwatch share.

- `runkit.io`: one file written atomically, sweeping what a killed writer
  left; `runkit.errors.WriteError` for every write that fails.
- `runkit.runfolder`: a run folder's life cycle (lock, staged outputs
  published together by one rename, manifest, sweep).
- `runkit.fault`: the kill points the fault tests use.
- `runkit.textfiles`: where a user's CSV stops being UTF-8 or CSV (the line
  an error names).

They live here because amlwatch never imports basketcast, and neither should
carry a copy.
"""
