"""The model contract, for EVERY registered model (classical and learned).

Forward at ratios 2, 3, 4, 2.5, 3.3 and 3 × 4 for 4, 8, 31 and 103 bands, batch 2, odd sizes: right
shape, finite values. Learned models: backward reaches every parameter; all: save → load through a
checkpoint reproduces the output, and sample i of a batch does not depend on sample j. The default run
checks every ratio at 8 bands (each guide kind) and every band count at ratio 3.3; the full product is
marked slow. Models are built with their ``tiny_args()`` (see ``zoo.py``).
"""

from __future__ import annotations

import pytest
import torch
from zoo import GUIDE_BANDS, build, guide_kinds, learnable, perturb

from fusion.engine.checkpoint import load_checkpoint, save_checkpoint
from fusion.errors import InputError
from fusion.models import list_models
from fusion.models.base import INRModel
from fusion.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_thread")

RATIOS = [2, 3, 4, 2.5, 3.3, (3, 4)]
BANDS = [4, 8, 31, 103]
LR_SIZE = (7, 9)  # odd on both axes
BATCH = 2


def ratio_id(ratio) -> str:
    return f"{ratio[0]}x{ratio[1]}" if isinstance(ratio, tuple) else f"x{ratio}"


def cases(name: str, full: bool):
    """``(guide kind, bands, ratio)`` combinations the model is tested at."""
    kinds = guide_kinds(name)
    bands = [c for c in BANDS if c >= MODELS.get(name).min_lr_bands]
    if full:
        return [(k, c, r) for k in kinds for c in bands for r in RATIOS]
    by_ratio = [(k, 8, r) for k in kinds for r in RATIOS]
    return by_ratio + [(kinds[0], c, 3.3) for c in bands if c != 8]


def params(full: bool):
    marks = [pytest.mark.slow] if full else []
    return [
        pytest.param(name, kind, bands, ratio, id=f"{name}-{kind}-C{bands}-{ratio_id(ratio)}", marks=marks)
        for name in list_models()
        for kind, bands, ratio in cases(name, full)
    ]


def make_inputs(bands: int, guide_bands: int, ratio, batch: int = BATCH, seed: int = 0):
    """Positive random ``lr (B, C, h, w)`` and ``guide (B, G, H, W)`` with ``H = round(h * ratio)``."""
    ry, rx = ratio if isinstance(ratio, tuple) else (ratio, ratio)
    out_size = (round(LR_SIZE[0] * ry), round(LR_SIZE[1] * rx))
    generator = torch.Generator().manual_seed(seed)
    lr = 0.2 + torch.rand(batch, bands, *LR_SIZE, generator=generator)
    guide = 0.2 + torch.rand(batch, guide_bands, *out_size, generator=generator)
    return lr, guide


def run(model, lr, guide):
    """Forward in eval mode; ``None`` when the model declares it does not support the ratio."""
    model.eval()
    try:
        with torch.no_grad():
            return model(lr, guide)
    except InputError:
        if model.supports_arbitrary_ratio:
            raise
        return None


def check_forward(name, kind, bands, ratio):
    lr, guide = make_inputs(bands, GUIDE_BANDS[kind], ratio)
    model = build(name, bands, GUIDE_BANDS[kind])
    out = run(model, lr, guide)
    if out is None:
        return
    assert out.shape == (BATCH, bands, *guide.shape[-2:])
    assert torch.isfinite(out).all()
    # Not a constant: the output follows its input (both samples differ, as their inputs do).
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("name, kind, bands, ratio", params(full=False))
def test_forward_shape_and_finite(name, kind, bands, ratio):
    check_forward(name, kind, bands, ratio)


@pytest.mark.parametrize("name, kind, bands, ratio", params(full=True))
def test_forward_full_product(name, kind, bands, ratio):
    check_forward(name, kind, bands, ratio)


def first_kind_model(name: str, bands: int = 5):
    kind = guide_kinds(name)[0]
    return build(name, bands, GUIDE_BANDS[kind]), GUIDE_BANDS[kind]


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name):
    model, guide_bands = first_kind_model(name)
    if not learnable(model):
        pytest.skip(f"{name} has no learnable parameters")
    perturb(model)
    lr, guide = make_inputs(5, guide_bands, (3, 4))
    model.train()
    out = model(lr, guide)
    (out**2).mean().backward()
    for pname, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{name}: no gradient reaches {pname}"
            assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient for {pname}"
            assert param.grad.abs().sum() > 0, f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize("name", list_models())
def test_checkpoint_round_trip_reproduces_outputs(name, tmp_path):
    model, guide_bands = first_kind_model(name)
    if learnable(model):
        perturb(model, seed=1)
    lr, guide = make_inputs(5, guide_bands, 2.5)
    before = run(model, lr, guide)
    path = save_checkpoint(model, tmp_path / f"{name}.pt")
    loaded, payload = load_checkpoint(path)
    assert payload["model"]["name"] == name
    assert torch.equal(run(loaded, lr, guide), before)
    if learnable(model):  # the weights come from the file, not from the constructor
        assert not torch.allclose(run(first_kind_model(name)[0], lr, guide), before)


@pytest.mark.parametrize("name", list_models())
def test_samples_are_independent(name):
    """Each sample of a batch equals that sample fused alone, and changing one leaves the other as is."""
    model, guide_bands = first_kind_model(name)
    lr, guide = make_inputs(5, guide_bands, 3.3, batch=3)
    together = run(model, lr, guide)
    for i in range(3):
        alone = run(model, lr[i : i + 1], guide[i : i + 1])
        torch.testing.assert_close(together[i : i + 1], alone, rtol=1e-5, atol=1e-5)
    changed_lr, changed_guide = lr.clone(), guide.clone()
    changed_lr[1:] = changed_lr[1:].flip(-1)
    changed_guide[1:] = changed_guide[1:].flip(-1)
    changed = run(model, changed_lr, changed_guide)
    torch.testing.assert_close(changed[0], together[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(changed[1], together[1])


@pytest.mark.parametrize("name", [n for n in list_models() if issubclass(MODELS.get(n), INRModel)])
def test_inr_chunked_queries_equal_one_pass(name):
    model, guide_bands = first_kind_model(name)
    lr, guide = make_inputs(5, guide_bands, (3, 4))
    model.eval()
    with torch.no_grad():
        whole = model(lr, guide, chunk=1 << 20)
        chunked = model(lr, guide, chunk=37)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
