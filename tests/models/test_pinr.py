"""naive-pinr and dynamic-pinr: query mapping, spectral queries, window attention, DyLinear, TST."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo import perturb

from fusion.errors import InputError
from fusion.models import create_model
from fusion.models.pinr import DDEMBlock, DynamicPINR, NaivePINR, SpectralDecoder, zero_output
from fusion.nn import DyLinear
from fusion.nn.coords import make_cell, make_coord, normalize_wavelengths

pytestmark = pytest.mark.usefixtures("one_thread")

NAMES = ("naive-pinr", "dynamic-pinr")
#: Band centres (nm) deliberately out of order, like an MS image stored as red, green, blue, NIR.
WAVELENGTHS = (660.0, 560.0, 480.0, 830.0)


def tiny(name: str, bands: int = 4, guide_bands: int = 1, trained: bool = True, **options):
    """A small model; ``trained``: every parameter perturbed, as after training (no zero layers)."""
    cls = {"naive-pinr": NaivePINR, "dynamic-pinr": DynamicPINR}[name]
    model = create_model(name, lr_bands=bands, guide_bands=guide_bands, **{**cls.tiny_args(), **options})
    if trained:
        perturb(model, scale=0.1)
    return model


def inputs(bands, guide_bands, lr_size, out_size, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lr = torch.rand(batch, bands, *lr_size, generator=generator)
    return lr, torch.rand(batch, guide_bands, *out_size, generator=generator)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr_size, out_size", [((5, 7), (15, 21)), ((4, 3), (10, 11)), ((3, 4), (9, 16))])
def test_the_untrained_model_is_bilinear_upsampling(name, lr_size, out_size):
    """The spectral residual starts at zero; checks the band bookkeeping (shuffled wavelengths) and the
    grid convention at any ratio."""
    torch.manual_seed(0)
    model = tiny(name, wavelengths=WAVELENGTHS, guide_bands=3, trained=False)
    lr, guide = inputs(4, 3, lr_size, out_size)
    expected = F.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
    assert torch.allclose(model(lr, guide, out_size), expected, atol=1e-5)


def test_a_zeroed_dylinear_outputs_zero_but_still_learns():
    torch.manual_seed(8)
    layer = DyLinear(5, 3, cond_dim=4, rank=2)
    zero_output(layer)
    x, cond = torch.randn(6, 5), torch.randn(6, 4)
    out = layer(x, cond)
    assert torch.equal(out, torch.zeros(6, 3))
    (out * torch.randn(6, 3)).sum().backward()
    assert layer.generate.weight.grad[: 3 * 2].abs().sum() > 0  # U's generator gets gradients (V is random)
    assert layer.linear.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_spectral_query_returns_bands_at_new_wavelengths(name):
    torch.manual_seed(1)
    model = tiny(name, wavelengths=WAVELENGTHS)
    lr, guide = inputs(4, 1, (4, 5), (12, 15))
    out_size = (12, 15)
    coord = make_coord(out_size).expand(2, -1, -1)
    cell = make_cell(out_size, coord.shape[1]).expand(2, -1, -1)
    with torch.no_grad():
        state = model.encode(lr, guide)
        at_bands = model.query(state, coord, cell)
        assert torch.allclose(at_bands, model(lr, guide).flatten(2).transpose(1, 2), atol=1e-6)
        # Query the known bands in another order, between them, and next to one.
        queried = model.query(state, coord, cell, wavelengths=[830.0, 520.0, 560.0, 560.001, 700.0])
        assert queried.shape == (2, coord.shape[1], 5)
        assert torch.allclose(queried[..., 0], at_bands[..., 3], atol=1e-6)
        assert torch.allclose(queried[..., 2], at_bands[..., 1], atol=1e-6)
        assert (queried[..., 3] - queried[..., 2]).abs().max() < 1e-3  # continuous in wavelength
        zero_output(model.spectral.decoder.layers[-1])  # the untrained model: bilinear upsampling
        plain = model.query(state, coord, cell)
        between = model.query(state, coord, cell, wavelengths=[520.0, 745.0])
    # With the residual silenced, a band between two known bands is their linear interpolation.
    assert torch.allclose(between[..., 0], (plain[..., 1] + plain[..., 2]) / 2, atol=1e-5)
    assert torch.allclose(between[..., 1], (plain[..., 0] + plain[..., 3]) / 2, atol=1e-5)


def test_new_wavelengths_need_known_band_wavelengths():
    model = tiny("naive-pinr")
    lr, guide = inputs(4, 1, (3, 3), (9, 9))
    coord = make_coord((9, 9)).expand(2, -1, -1)
    with pytest.raises(InputError, match="wavelengths"):
        model.query(
            model.encode(lr, guide), coord, make_cell((9, 9), 81).expand(2, -1, -1), wavelengths=[500.0]
        )


def test_wavelengths_come_from_the_sensor_when_the_band_count_matches():
    from fusion.degrade import get_sensor

    model = tiny("naive-pinr", bands=8, sensor="worldview2")
    expected = normalize_wavelengths(torch.tensor(get_sensor("worldview2").wavelengths_nm))
    assert torch.allclose(model.band_coords, expected)
    assert model.knows_wavelengths
    evenly = tiny("naive-pinr", bands=5, sensor="worldview2")  # 5 bands: not WorldView-2's 8
    assert torch.allclose(evenly.band_coords, torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8]))


def test_window_attention_handles_sizes_that_are_not_multiples_of_the_window():
    torch.manual_seed(2)
    block = DDEMBlock(8, heads=2, window=4, shift=0)
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        whole = block.attention(x)
        # Windows start at the top-left pixel; a partial window at the border attends only to its real
        # tokens, exactly as if it were an image on its own.
        for rows, cols in [
            (slice(0, 4), slice(0, 4)),
            (slice(0, 4), slice(4, 7)),
            (slice(4, 5), slice(4, 7)),
        ]:
            assert torch.allclose(whole[..., rows, cols], block.attention(x[..., rows, cols]), atol=1e-5)
        shifted = DDEMBlock(8, heads=2, window=4, shift=2)
        for size in [(5, 7), (3, 3), (9, 2)]:
            y = shifted(torch.randn(2, 8, *size))
            assert y.shape == (2, 8, *size) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_forward_for_low_resolution_sizes_smaller_than_or_across_windows(name):
    torch.manual_seed(3)
    model = tiny(name, window=4)
    for lr_size, out_size in [((2, 3), (5, 9)), ((6, 9), (18, 27))]:
        lr, guide = inputs(4, 1, lr_size, out_size)
        out = model(lr, guide, out_size)
        assert out.shape == (2, 4, *out_size) and torch.isfinite(out).all()


def test_dylinear_spectral_mlp_equals_dylinear_per_pixel():
    """The batched per-pixel DyLinear evaluation equals DyLinear's own forward."""
    torch.manual_seed(4)
    decoder = SpectralDecoder(
        band_dim=5, cond_dim=3, hidden=(6, 4), activations=["gelu", "sine"], rank=2
    ).double()
    x = torch.randn(7, 4, 2, 5 + 3, dtype=torch.float64)
    x[..., 5:] = x[:, :1, :1, 5:]  # one condition per pixel, as SpectralQuery repeats it
    cond = x[:, :1, :1, 5:]
    h = decoder.layers[0](x[..., :5], cond) + decoder.cond_in(cond)
    h = decoder.layers[1](decoder.acts[0](h), cond)
    h = decoder.layers[2](decoder.acts[1](h), cond)
    assert all(isinstance(layer, DyLinear) for layer in decoder.layers)
    assert torch.allclose(decoder(x), x[..., :1] + h)


def test_dynamic_weights_are_generated_per_pixel_and_samples_stay_independent():
    torch.manual_seed(5)
    model = tiny("dynamic-pinr")
    lr, guide = inputs(4, 1, (3, 4), (9, 12))
    generated = []
    hook = model.spectral.decoder.layers[0].generate.register_forward_hook(
        lambda m, i, o: generated.append(o)
    )
    with torch.no_grad():
        first = model(lr, guide)
        changed_lr, changed_guide = lr.clone(), guide.clone()
        changed_lr[1], changed_guide[1] = torch.rand_like(lr[1]), torch.rand_like(guide[1])
        second = model(changed_lr, changed_guide)
    hook.remove()
    params = generated[0]  # (B * N, rank * (out + in)): one set of temporary weights per pixel
    assert params.shape[0] == 2 * 9 * 12
    assert params.std(dim=0).min() > 0  # they differ between pixels
    assert torch.allclose(first[0], second[0], atol=1e-6)
    assert not torch.allclose(first[1], second[1])


def test_dynamic_encoding_adds_the_tst_output():
    """``H_dy = H_enc + φ(θ)``: the latent equals the naive encoding plus TST, recomputed by hand."""
    torch.manual_seed(6)
    model = tiny("dynamic-pinr", guide_bands=2)
    lr, guide = inputs(4, 2, (4, 4), (10, 10))
    with torch.no_grad():
        hs, _ = model.interaction(lr, guide)
        for block in model.blocks:
            hs = block(hs)
        latent = hs + model.ass_conv(hs) + model.tst(lr, guide)
        assert torch.allclose(
            model.encode(lr, guide).spatial.rows, model.spatial.prepare(latent).rows, atol=1e-6
        )


@pytest.mark.parametrize("name", NAMES)
def test_chunks_and_batch_neighbours_do_not_change_the_output(name):
    torch.manual_seed(7)
    model = tiny(name, bands=5, guide_bands=3)
    lr, guide = inputs(5, 3, (3, 5), (8, 13), batch=3)
    with torch.no_grad():
        whole = model(lr, guide)
        assert torch.allclose(model(lr, guide, chunk=17), whole, atol=1e-6)
        assert torch.allclose(model(lr[1:2], guide[1:2]), whole[1:2], atol=1e-5)


def test_input_errors():
    with pytest.raises(InputError, match="3 band centres"):
        tiny("naive-pinr", bands=3, wavelengths=[500.0, 600.0])
    with pytest.raises(InputError, match="distinct"):
        tiny("naive-pinr", bands=2, wavelengths=[500.0, 500.0])
    with pytest.raises(TypeError):
        tiny("naive-pinr", rank=2)
    with pytest.raises(InputError, match="rank"):
        tiny("dynamic-pinr", rank=0)
    model = tiny("naive-pinr")
    with pytest.raises(InputError, match="finer"):
        model(*inputs(4, 1, (4, 4), (4, 8)), (4, 8))
    with pytest.raises(InputError, match="4 low-resolution bands"):
        model(*inputs(3, 1, (4, 4), (8, 8)), (8, 8))


@pytest.mark.parametrize("name", NAMES)
def test_decoders_take_mire_activation_sequences(name):
    spatial = [{"name": "gabor", "params": {"omega": 3.0, "scale": 0.5}}, "sinc"]
    spectral = ["raised-cosine", {"name": "sine", "params": {"omega": 2.0}}]
    sizes = {"spatial_hidden": (8, 8), "spectral_hidden": (8, 6)}
    model = tiny(name, trained=False, spatial_activations=spatial, spectral_activations=spectral, **sizes)
    assert [act.spec() for act in model.spatial.decoder.acts] == [
        {"name": "gabor", "params": {"omega": 3.0, "scale": 0.5}},
        {"name": "sinc", "params": {"omega": 1.0}},
    ]
    assert [act.name for act in model.spectral.decoder.acts] == ["raised-cosine", "sine"]
    perturb(model, scale=0.1)
    lr, guide = inputs(4, 1, (3, 4), (8, 11))
    with torch.no_grad():
        before = model(lr, guide)
        model.spectral.decoder.acts[1].omega.fill_(3.0)  # the atom's parameter is used
        after = model(lr, guide)
    assert torch.isfinite(before).all() and not torch.allclose(before, after)
    with pytest.raises(InputError, match="2 hidden layer"):
        tiny(name, spectral_hidden=(8, 8), spectral_activations=["sinc"])
