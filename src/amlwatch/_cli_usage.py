"""A Typer command class whose usage line leaves out hidden parameters.

Click prints a hidden *argument* in the usage line all the same, so `amlwatch
synth` showed ``[OUT]``, the old form of ``--out`` kept only for old scripts.
"""

from __future__ import annotations

from typing import Any

import typer.core

__all__ = ["UsageWithoutHidden"]


class UsageWithoutHidden(typer.core.TyperCommand):
    """A command whose usage line leaves out hidden parameters."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces
