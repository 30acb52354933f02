"""Every INR model learns: fitting one real 32 × 32 CAVE crop beats bicubic upsampling by a margin.

The crop (``balloons``, rows 320–351, columns 32–63: textured and bright) is the ground truth; the
LR-HSI is its Nikon-D700-era simulation at ratio 4 (MTF blur, decimation) and the guide its RGB
through the Nikon D700 spectral response (``fusion.degrade.simulate``). Each model (its
``tiny_args()`` configuration) is fitted for 300 Adam steps on CPU with an L1 loss; its PSNR on the
crop must exceed that of the bicubic upsampling of the LR-HSI by ``MARGIN_DB``. Models whose
constructor takes the degradation (``sensor``, ``guide_sensor``, ``wavelengths``) are told the one the
data was simulated with. Models whose class sets ``slow_fit = True`` are marked slow.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import pytest
import torch
from zoo import build, inr_names

from fusion.degrade import simulate, upsample
from fusion.metrics import psnr
from fusion.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_thread")

CROP = (slice(320, 352), slice(32, 64))
RATIO = 4
SENSOR = "nikon_d700"
STEPS = 300
LEARNING_RATE = 3e-3
MARGIN_DB = 3.0


def fit_params():
    return [
        pytest.param(name, marks=[pytest.mark.slow] if getattr(MODELS.get(name), "slow_fit", False) else [])
        for name in inr_names()
    ]


@functools.lru_cache(maxsize=1)
def simulated_crop(path: str):
    """``(lr, guide, gt, wavelengths_nm)`` of the crop, float32 in [0, 1]."""
    data = np.load(path)
    wavelengths = [float(w) for w in data["wavelengths_nm"]]
    cube = torch.from_numpy(data["cube"][CROP].astype(np.float32) / 65535).permute(2, 0, 1)[None]
    pair = simulate(cube, SENSOR, RATIO, guide="msi", wavelengths_nm=wavelengths)
    return pair.lr.float(), pair.guide.float(), pair.gt.float(), wavelengths


@pytest.fixture
def cave_pair(shared_data):
    path = shared_data / "hsi" / "cave_balloons.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return simulated_crop(str(path))


def degradation_args(name: str, wavelengths: list[float]) -> dict:
    """The simulation's sensor and band centres, for the constructor arguments the model has."""
    known = {"sensor": SENSOR, "guide_sensor": SENSOR, "wavelengths": wavelengths}
    accepted = inspect.signature(MODELS.get(name)).parameters
    return {key: value for key, value in known.items() if key in accepted}


@pytest.mark.parametrize("name", fit_params())
def test_fitting_one_crop_beats_bicubic(name, cave_pair):
    lr, guide, gt, wavelengths = cave_pair
    torch.manual_seed(0)
    model = build(name, lr.shape[1], guide.shape[1], **degradation_args(name, wavelengths))
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(STEPS):
        loss = (model(lr, guide) - gt).abs().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        fitted = float(psnr(model(lr, guide), gt, data_range=1.0))
    bicubic = float(psnr(upsample(lr, gt.shape[-2:], method="bicubic"), gt, data_range=1.0))
    assert bicubic > 30  # the simulation is sane: bicubic is close but not exact
    assert fitted > bicubic + MARGIN_DB, f"{name}: {fitted:.2f} dB vs bicubic {bicubic:.2f} dB"
