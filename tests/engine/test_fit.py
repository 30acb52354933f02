import pytest
import torch

from fusion.degrade import Degradation, reduce_pair
from fusion.engine.fit import Rescaled, fit_scene, patch_size
from fusion.errors import InputError
from fusion.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


def disc_scene(size=96, bands=3, discs=40, seed=0):
    """Overlapping discs of random spectra on a flat background: edges at every scale, ``(1, C, H, W)``."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(*(torch.arange(size, dtype=torch.float64),) * 2, indexing="ij")
    img = torch.full((bands, size, size), 0.2, dtype=torch.float64)
    for _ in range(discs):
        cy, cx = (torch.rand(2, generator=g) * size).tolist()
        radius = 2 + float(torch.rand(1, generator=g)) * size / 6
        spectrum = 0.1 + 0.9 * torch.rand(bands, 1, 1, generator=g, dtype=torch.float64)
        img = torch.where((y - cy) ** 2 + (x - cx) ** 2 < radius**2, spectrum.expand_as(img), img)
    return img[None]


def psnr(a, b):
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def test_training_pairs_are_reduce_pairs_degradation_of_patches():
    g = torch.Generator().manual_seed(0)
    lr, guide = (
        torch.rand(1, 3, 64, 64, generator=g, dtype=torch.float64),
        torch.rand(1, 1, 128, 128, generator=g),
    )
    _, lr_small, reference = reduce_pair(guide.double(), lr, sensor="worldview2")
    crop = reference[..., 16:48, 20:52]  # on the reduced grid: pixels 8..23 and 10..25
    patch_lr = Degradation(sensor="worldview2", ratio=2).to(torch.float64)(crop).lr
    # equal away from the patch border, where the patch replicates its edge instead of seeing neighbours
    torch.testing.assert_close(patch_lr[..., 5:-5, 5:-5], lr_small[..., 13:19, 15:21], rtol=0, atol=1e-12)


def test_patch_size_spans_whole_reduced_pixels():
    assert patch_size((64, 64), (4.0, 4.0), 29) == (28, 28)
    assert patch_size((64, 50), (2.0, 2.0), None) == (64, 50)
    assert patch_size((40, 40), (3.3, 3.3), 33) == (33, 33)
    with pytest.raises(InputError, match="too small to reduce"):
        patch_size((5, 5), (4.0, 4.0), 64)


def test_fit_beats_its_starting_point_at_full_resolution():
    gt = disc_scene()
    guide, lr = gt.mean(1, keepdim=True), Degradation(ratio=2)(gt).lr
    torch.manual_seed(0)
    model = create_model("tiny-cnn", lr_bands=3, guide_bands=1, width=16).double()
    with torch.no_grad():
        before = psnr(model(lr, guide), gt)  # tiny-cnn starts as bilinear upsampling
    result = fit_scene(model, lr * 1000, guide * 1000, steps=80, patch=24, batch_size=4, learning_rate=3e-3)
    assert result.scale == pytest.approx(1000 * float(lr.max()))
    assert len(result.losses) == 80 and sum(result.losses[-10:]) < 0.8 * sum(result.losses[:10])
    fused = result.rescaled()
    with torch.no_grad():
        after = psnr(fused(lr * 1000, guide * 1000) / 1000, gt)
    assert after > before + 1.0  # measured: 21.7 dB -> 23.7 dB
    assert not model.training and fused.halo((2.0, 2.0)) == model.halo((2.0, 2.0))


def test_rescaled_model_works_in_scene_units():
    model = create_model("tiny-cnn", lr_bands=2, guide_bands=1)
    with torch.no_grad():
        model.body[-1].bias.fill_(0.5)  # output = bilinear(lr) + 0.5: not scale invariant
    lr, guide = torch.rand(1, 2, 4, 4), torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(Rescaled(model, 10.0)(lr, guide), model(lr / 10, guide / 10) * 10)
    with pytest.raises(InputError, match="at least one step"):
        fit_scene(model, lr, guide, steps=0)
