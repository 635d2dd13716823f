"""Small file checks shared by the readers: where a text file stops being UTF-8 or CSV (`runkit.textfiles`)."""

from __future__ import annotations

from runkit.textfiles import first_bad_utf8, first_broken_row

__all__ = ["first_bad_utf8", "first_broken_row"]
