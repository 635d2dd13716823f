"""`amlwatch serve RUN`: score transactions over HTTP with durable streaming account state.

- `stream`: account-window and pair features one transaction at a time,
  bit-identical to the batch features (`amlwatch.features`) for the same stream;
- `store`: that state in SQLite (WAL; ``synchronous`` NORMAL or FULL, by the
  `Durability` setting), group-committed;
- `model`: which of the run's detectors is served (the GAN's ONNX graph if
  the run has one) and its threshold;
- `loaded`: the run folder's published invocation (model, rules, what the run
  records) as one value, which a reload replaces whole;
- `service`, `app`, `server`: the state, the FastAPI app, uvicorn.

Graph features (daily snapshots) are batch only: the service neither computes
nor serves a detector that reads them. Needs the `serve` extra (FastAPI,
uvicorn, prometheus-client) and, for a GAN, onnxruntime (the `gan` extra).
"""

from __future__ import annotations

from amlwatch.serve.settings import API_KEY_ENV, Durability, ServeSettings

__all__ = ["API_KEY_ENV", "Durability", "ServeSettings"]
