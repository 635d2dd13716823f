"""What the cluster path cannot do yet is refused before anything runs, with the key named."""

from __future__ import annotations

import pytest

from basketcast.config import ConfigError, load_config
from basketcast.distributed.summary import check_cluster_config


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"basket.p_none": "blend"}, "basket.p_none"),
        ({"model.stack_none": True}, "model.stack_none"),
        ({"model.bagging": 3}, "model.bagging"),
    ],
)
def test_single_machine_only_settings_are_refused(override: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_cluster_config(load_config(**override))


def test_the_defaults_are_accepted() -> None:
    check_cluster_config(load_config())
