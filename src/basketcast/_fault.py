"""basketcast's fault hook for tests: `runkit.fault` (``BASKETCAST_FAULT=kill@<point>:<n>``)."""

from runkit.fault import ENV, fault_point

__all__ = ["ENV", "fault_point"]
