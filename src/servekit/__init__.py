"""Serving pieces that `basketcast serve` and `amlwatch serve` share.

The two services make the same choices (an API key checked in constant time,
a request body limit, one JSON log line per event); they live here because
amlwatch never imports basketcast, and neither should carry a copy.
"""
