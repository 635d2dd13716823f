"""README's amlwatch run configs (the `cat > X.toml <<'TOML'` blocks) load as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from amlwatch.config import load_config

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"cat > (\S+\.toml) <<'TOML'\n(.*?)\nTOML\n", README.read_text(), re.S)


def test_readme_has_the_config_blocks() -> None:
    assert {"gan.toml", "propagated.toml"} <= {name for name, _ in BLOCKS}


@pytest.mark.parametrize(("name", "text"), BLOCKS, ids=[name for name, _ in BLOCKS])
def test_readme_config_loads(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    config = load_config(path)
    assert len(config.detectors) == text.count("[[detector]]") > 0
