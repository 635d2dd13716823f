"""The shared serving pieces: the API-key check's answers, and servekit imports neither service."""

from __future__ import annotations

import subprocess
import sys

import pytest

from servekit.security import API_KEY_HEADER, api_key_problem


@pytest.mark.parametrize(
    ("expected", "given", "problem"),
    [
        (None, None, None),
        (None, "anything", None),
        ("k" * 20, "k" * 20, None),
        ("k" * 20, None, f"this action needs the {API_KEY_HEADER} header"),
        ("k" * 20, "k" * 19, f"wrong {API_KEY_HEADER}"),
        ("k" * 20, "", f"wrong {API_KEY_HEADER}"),
    ],
)
def test_api_key_problem(expected: str | None, given: str | None, problem: str | None) -> None:
    assert api_key_problem(expected, given) == problem


def test_servekit_imports_neither_service() -> None:
    code = (
        "import sys, servekit.security, servekit.logs\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'basketcast', 'amlwatch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
