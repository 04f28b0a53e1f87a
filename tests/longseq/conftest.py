"""Fixtures for the long-sequence tests: a small synthetic loop sequence with exact ground truth."""

from __future__ import annotations

import pytest

from tests.conftest import one_torch_thread


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="package")
def loop_sequence():
    """200 frames (two laps) of the ``long_video`` family at 64 px: (source, ground truth)."""
    from openvggt.longseq.sequences import synthetic_sequence

    return synthetic_sequence(200, seed=0, size=64)
