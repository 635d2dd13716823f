"""Imported once by the fork server: every child run starts with the modules loaded and Numba warm.

Nothing here starts a thread (Polars' pool starts on first use), so forking
from the server is safe.
"""

from __future__ import annotations

import numpy as np

import basketcast.cli
import basketcast.pipeline
import basketcast.report  # noqa: F401
from basketcast.basket.f1 import best_basket

best_basket(np.array([0.5, 0.25, 0.1]), 0.2)  # loads Numba's compiled kernels once, here
