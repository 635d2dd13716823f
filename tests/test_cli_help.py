"""Every help text of both command lines reaches the screen whole.

Typer renders help as Rich markup, so an unescaped ``[run]`` in a help string
is read as a style tag and silently dropped ("TOML config (, , [])" once).
"""

import click
import pytest
import typer
from rich.markup import render

from amlwatch.cli import app as amlwatch_app
from basketcast.cli import app as basketcast_app


def _help_texts(group: click.Command, prefix: str):
    yield prefix, group.help or ""
    for param in group.params:
        yield f"{prefix} {param.name}", getattr(param, "help", None) or ""
    for name, command in getattr(group, "commands", {}).items():
        yield from _help_texts(command, f"{prefix} {name}")


@pytest.mark.parametrize("app, name", [(amlwatch_app, "amlwatch"), (basketcast_app, "basketcast")])
def test_no_help_text_loses_words_to_rich_markup(app: typer.Typer, name: str) -> None:
    lost = []
    for where, text in _help_texts(typer.main.get_command(app), name):
        shown = render(text).plain
        meant = text.replace("\\[", "[")
        if shown != meant:
            lost.append(f"{where}: {text!r} shows as {shown!r}")
    assert not lost, "\n".join(lost)


def test_the_check_sees_an_unescaped_section_name() -> None:
    assert (
        render("TOML config ([run], [[detector]]).").plain != "TOML config ([run], [[detector]])."
    )
