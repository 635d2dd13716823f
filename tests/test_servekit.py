"""The shared serving pieces: the API-key check's and the media-type check's answers, and
servekit imports neither service (both services' 415s are tested over HTTP with each)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from servekit.media import content_type_problem
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


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ([(b"content-type", b"application/json"), (b"content-length", b"2")], None),
        ([(b"content-type", b"application/json; charset=utf-8"), (b"content-length", b"2")], None),
        ([(b"content-type", b"Application/JSON ;charset=UTF-8"), (b"transfer-encoding", b"chunked")], None),
        ([(b"content-length", b"0")], None),  # no body: a reload
        ([], None),
        ([(b"content-type", b"text/plain"), (b"content-length", b"0")], None),
        ([(b"content-type", b"text/plain"), (b"content-length", b"2")], "Content-Type text/plain"),
        ([(b"content-length", b"2")], "no Content-Type"),
        ([(b"transfer-encoding", b"chunked")], "no Content-Type"),
        ([(b"content-type", b"application/jsonp"), (b"content-length", b"2")], "application/jsonp"),
        ([(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"9")], "urlencoded"),
    ],
)  # fmt: skip
def test_content_type_problem(headers: list[tuple[bytes, bytes]], refused: str | None) -> None:
    problem = content_type_problem(headers)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem and "application/json" in problem


def test_servekit_imports_neither_service() -> None:
    code = (
        "import sys, servekit.security, servekit.logs, servekit.media\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'basketcast', 'amlwatch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
