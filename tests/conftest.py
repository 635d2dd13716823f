"""Test configuration: one thread budget for the whole suite (2 cores on CI)."""

from __future__ import annotations

from basketcast.device import set_thread_budget

set_thread_budget(2)
