"""Shared fixtures: device/dtype, the developer data folder, and CPU-friendly torch settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Real developer data lives next to the checkout (../shared/data); a user's clone has none,
# so tests that need it skip. FUSION_DATA overrides the location.
SHARED_DATA = Path(os.environ.get("FUSION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for tests (cpu or cuda)")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """One intra-op thread, for tests of many tiny ops that extra threads only slow down on a shared
    machine; modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def device(request) -> torch.device:
    return torch.device(request.config.getoption("--device"))


@pytest.fixture
def shared_data() -> Path:
    """The developer data folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"developer data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def wv2_pair(shared_data):
    """The real WorldView-2 sample: ``(pan (1, 1, 1280, 1280), ms (1, 8, 320, 320))`` float64 DN tensors."""
    path = shared_data / "pansharpening" / "wv2_pnn_sample.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    data = np.load(path)
    pan = torch.from_numpy(data["pan"].astype(np.float64))[None, None]
    ms = torch.from_numpy(data["ms"].astype(np.float64)).permute(2, 0, 1)[None]
    return pan, ms
