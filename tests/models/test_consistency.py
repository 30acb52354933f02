"""Back-projection (``fusion.models.consistency``): outputs made consistent with their LR input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from classical_scenes import run_tiled
from zoo import build

from fusion.degrade import blur_decimate, upsample
from fusion.engine.checkpoint import load_checkpoint, save_checkpoint
from fusion.errors import InputError
from fusion.models.consistency import BackProjected, back_project, back_projection_args, lr_residual


def _smooth_scene(seed: int = 0, bands: int = 4, size: int = 48) -> torch.Tensor:
    """A band-limited random scene ``(1, bands, size, size)`` in [0, 1] (float64)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, bands, size // 4, size // 4, generator=generator, dtype=torch.float64)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.mark.parametrize("ratio", [4.0, 3.0])
def test_residual_falls_and_the_estimate_moves_towards_the_truth(ratio):
    truth = _smooth_scene()
    lr_grid = (round(48 / ratio), round(48 / ratio))
    lr = blur_decimate(truth, 0.3, 48 / lr_grid[0], out_size=lr_grid, phase="centre")
    start = truth + 0.05 * torch.linspace(-1, 1, 48, dtype=torch.float64)  # a smooth bias per column
    before = lr_residual(start, lr, 0.3).abs().max()
    projected = back_project(start, lr, 0.3, iterations=10)
    assert lr_residual(projected, lr, 0.3).abs().max() < before / 10
    assert (projected - truth).square().mean() < (start - truth).square().mean() / 4


def test_a_consistent_image_is_left_alone():
    truth = _smooth_scene(1)
    lr = blur_decimate(truth, 0.3, 4.0, out_size=(12, 12), phase="centre")
    torch.testing.assert_close(back_project(truth, lr, 0.3, iterations=5), truth, rtol=0, atol=1e-12)


def test_one_step_adds_the_interpolated_residual():
    """The hand-written update ``x + U(lr - D(x))``, with D and U from :mod:`fusion.degrade`."""
    truth, start = _smooth_scene(2), _smooth_scene(3)
    lr = blur_decimate(truth, 0.25, 4.0, out_size=(12, 12), phase="centre")
    residual = lr - blur_decimate(start, 0.25, 4.0, out_size=(12, 12), phase="centre")
    expected = start + upsample(residual, (48, 48), method="bicubic", phase="centre")
    torch.testing.assert_close(back_project(start, lr, 0.25, iterations=1), expected)


def test_create_model_wraps_and_a_checkpoint_rebuilds_it(tmp_path):
    generator = torch.Generator().manual_seed(4)
    lr, guide = torch.rand(1, 5, 8, 8, generator=generator), torch.rand(1, 3, 32, 32, generator=generator)
    model = build("liif", 5, 3, back_projection={"iterations": 3, "gnyq": 0.3}).eval()
    assert isinstance(model, BackProjected) and model.iterations == 3
    with torch.no_grad():
        out, inner = model(lr, guide), model.model(lr, guide)
    torch.testing.assert_close(out, back_project(inner, lr, 0.3, iterations=3), rtol=1e-5, atol=1e-6)
    loaded, payload = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt"))
    assert payload["model"]["args"]["back_projection"] == {"iterations": 3, "gnyq": 0.3}
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr, guide), out)


def test_gradients_flow_through_the_projection():
    generator = torch.Generator().manual_seed(5)
    lr, guide = torch.rand(2, 5, 8, 8, generator=generator), torch.rand(2, 3, 32, 32, generator=generator)
    model = build("liif", 5, 3, back_projection=2)
    model(lr, guide).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_tiled_run_approximates_the_untiled_one():
    generator = torch.Generator().manual_seed(6)
    lr, guide = torch.rand(1, 4, 24, 24, generator=generator), torch.rand(1, 3, 96, 96, generator=generator)
    model = build("glp-hs", 4, 3, back_projection=5).eval()
    assert not model.exact_tiling and model.halo((4.0, 4.0)) > model.model.halo((4.0, 4.0))
    with torch.no_grad():
        whole = model(lr, guide)
        tiled, _ = run_tiled(model, lr, guide, tiles=(2, 2))
    assert (tiled - whole).abs().max() < 1e-3 * whole.abs().max()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(None, None), (0, None), (True, {"iterations": 10}), (4, {"iterations": 4}),
     ({"iterations": 2, "phase": "toolbox"}, {"iterations": 2, "phase": "toolbox"})],
)  # fmt: skip
def test_config_values(spec, expected):
    assert back_projection_args(spec) == expected


@pytest.mark.parametrize("spec", [{"iterations": 2, "gain": 0.3}, "ten", 1.5])
def test_bad_config_values_are_refused(spec):
    with pytest.raises(InputError, match="back_projection"):
        back_projection_args(spec)


def test_zero_iterations_are_refused():
    with pytest.raises(InputError, match="iterations"):
        BackProjected(build("glp-hs", 4, 3), iterations=0)
