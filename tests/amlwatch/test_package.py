"""amlwatch stands alone: importing every module never imports basketcast."""

from __future__ import annotations

import subprocess
import sys


def test_amlwatch_does_not_import_basketcast() -> None:
    code = (
        "import importlib, pkgutil, sys, amlwatch\n"
        "for m in pkgutil.walk_packages(amlwatch.__path__, 'amlwatch.'):\n"
        "    if '.gan' in m.name or '.serve' in m.name:\n"
        "        continue  # part 2's modules may need torch; they are checked there\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] == 'basketcast'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
