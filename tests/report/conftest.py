"""Session fixtures: the tiny history and fake model results."""

from __future__ import annotations

import pytest

from basketcast.data.dataset import Dataset
from basketcast.report import ReportInputs
from tests.report._data import make_dataset, make_inputs


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return make_dataset()


@pytest.fixture(scope="session")
def inputs() -> ReportInputs:
    return make_inputs()
