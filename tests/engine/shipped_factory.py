"""Tiny checkpoints and a temporary weights folder for the tests of shipped checkpoints.

Shared by ``tests/engine/test_zoo.py``, ``tests/cli/test_fuse_shipped.py`` and
``tests/test_ship_scripts.py`` (which put this folder on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import fusion
from fusion.engine.checkpoint import save_checkpoint
from fusion.engine.zoo import WEIGHTS_ENV

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tiny_model(lr_bands: int = 4, guide_bands: int = 1, seed: int = 0, width: int = 8):
    """A ``tiny-cnn`` whose weights are all randomised (an untrained one is plain bilinear upsampling)."""
    model = fusion.create_model("tiny-cnn", lr_bands=lr_bands, guide_bands=guide_bands, width=width, depth=2)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def training_checkpoint(
    path, lr_bands=4, guide_bands=1, centres=None, data_scale=1.0, seed=0, config=None
) -> Path:
    """A checkpoint laid out as :meth:`fusion.engine.trainer.Trainer.save` writes ``last.pt``, of a
    randomised :func:`tiny_model`."""
    model = tiny_model(lr_bands, guide_bands, seed)
    meta = {
        "lr_bands": lr_bands,
        "guide_bands": guide_bands,
        "band_centres_nm": centres,
        "data_scale": data_scale,
        "sensor": None,
        "guide_response": {"sensor": "nikon_d700", "bands": "ms"} if guide_bands > 1 else None,
        "data_range": 1.0,
    }
    optimizer = torch.optim.Adam(model.parameters())
    train_state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "best": None}
    config = config or {"data": {"name": "hsi-cubes"}, "schedule": {"steps": 2}}
    return save_checkpoint(model, path, meta=meta, config=config, step=2, train_state=train_state)


def temporary_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights folder that :func:`fusion.engine.zoo.weights_folder` points at for one test."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv(WEIGHTS_ENV, str(folder))
    return folder
