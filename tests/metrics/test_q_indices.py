"""Q (sliding UIQI) and Q2n against sewar, a direct window loop, algebra identities and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_loops import block_uiqi_direct, uiqi_direct
from sewar.full_ref import q2n as sewar_q2n

import fusion.metrics as M
from fusion.errors import InputError
from fusion.metrics.q2n import _structure_constants, hypercomplex_product
from fusion.metrics.uiqi import block_q_matrix


def hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).numpy()


def test_q_matches_direct_window_loop():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 2048, size=(2, 14, 13)).astype(np.float64)
    pred = np.clip(ref + rng.normal(0, 200, ref.shape), 0, None).round()
    pred[0, :8, :8] = ref[0, :8, :8] = 7.0  # flat windows in both: the special case -> 1
    pred[1, :8, :8], ref[1, :8, :8] = 5.0, 9.0  # flat, different means: 2 mx my / (mx² + my²)
    size = 6
    want = [
        np.mean(
            [
                uiqi_direct(pred[b, i : i + size, j : j + size], ref[b, i : i + size, j : j + size])
                for i in range(14 - size + 1)
                for j in range(13 - size + 1)
            ]
        )
        for b in range(2)
    ]
    got = M.q(pred, ref, block_size=size, per_band=True)
    assert got.shape == (1, 2)
    assert got[0].numpy() == pytest.approx(np.array(want), abs=1e-12)
    assert M.q(pred, ref, block_size=size).item() == pytest.approx(np.mean(want))


def test_block_q_matrix_matches_direct_blocks():
    rng = np.random.default_rng(2)
    x = rng.integers(1, 500, size=(1, 3, 8, 12)).astype(np.float64)
    y = rng.integers(1, 500, size=(1, 2, 8, 12)).astype(np.float64)
    got = block_q_matrix(torch.from_numpy(x), torch.from_numpy(y), block_size=4)
    for i in range(3):
        for j in range(2):
            want = block_uiqi_direct(x[0, i], y[0, j], 4)
            assert got[0, i, j].item() == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("bands", [2, 4, 8])
def test_hypercomplex_product_is_a_composition_algebra(bands):
    gen = torch.Generator().manual_seed(bands)
    a, b = torch.randn(2, 50, bands, generator=gen, dtype=torch.float64)
    product = hypercomplex_product(a, b)
    assert product.norm(dim=-1).allclose(a.norm(dim=-1) * b.norm(dim=-1))
    assert torch.einsum("kij,ni,nj->nk", _structure_constants(bands), a, b).allclose(product)
    if bands == 2:
        za, zb = torch.complex(a[:, 0], a[:, 1]), torch.complex(b[:, 0], b[:, 1])
        assert torch.stack([(za * zb).real, (za * zb).imag], -1).allclose(product)


def test_q2n_matches_sewar_on_wv2(wv2_fused_like):
    fused, ms = wv2_fused_like
    want = sewar_q2n(hwc(ms), hwc(fused))
    assert 0.5 < want < 0.95  # not trivially 1
    assert M.q2n(fused, ms, convention="float").item() == pytest.approx(want, abs=1e-10)
    assert M.q2n(fused, ms).item() == pytest.approx(want, abs=1e-3)  # issue's tolerance (uint16 cast)
    rounded = [np.clip(np.floor(hwc(t) + 0.5), 0, 65535) for t in (ms, fused)]
    assert M.q2n(fused, ms).item() == pytest.approx(sewar_q2n(*rounded), abs=1e-10)


@pytest.mark.parametrize("bands,size", [(3, (45, 38)), (5, (33, 64)), (1, (40, 40))])
def test_q2n_padding_and_band_counts_match_sewar(wv2_fused_like, bands, size):
    fused, ms = (t[:, :bands, 7 : 7 + size[0], 11 : 11 + size[1]] for t in wv2_fused_like)
    want = sewar_q2n(hwc(ms), hwc(fused), ws=16)
    assert M.q2n(fused, ms, block_size=16, convention="float").item() == pytest.approx(want, abs=1e-10)


def test_q2n_overlapping_blocks_match_sewar(wv2_fused_like):
    fused, ms = (t[..., :80, :80] for t in wv2_fused_like)
    want = sewar_q2n(hwc(ms), hwc(fused), ws=32, stride=16)
    assert M.q2n(fused, ms, shift=16, convention="float").item() == pytest.approx(want, abs=1e-10)


def test_q2n_and_q_of_identical_images_are_one(wv2_fused_like):
    _, ms = wv2_fused_like
    assert M.q2n(ms, ms).item() == pytest.approx(1.0, abs=1e-12)
    assert M.q(ms, ms).item() == pytest.approx(1.0, abs=1e-12)


def test_q2n_batch_matches_single_samples(wv2_fused_like):
    fused, ms = (t[..., :64, :96] for t in wv2_fused_like)
    batch = M.q2n(torch.cat([fused, ms * 0.9]), torch.cat([ms, ms]))
    assert batch[0].item() == pytest.approx(M.q2n(fused, ms).item())
    assert batch[1].item() == pytest.approx(M.q2n(ms * 0.9, ms).item())


def test_q2n_reference_convention_rejects_unit_range_data(wv2_fused_like):
    fused, ms = wv2_fused_like
    with pytest.raises(InputError, match="convention='float'"):
        M.q2n(fused / 2047, ms / 2047)
    assert M.q2n(fused / 2047, ms / 2047, convention="float").item() == pytest.approx(
        M.q2n(fused, ms, convention="float").item(),
        abs=1e-10,  # Q2n is scale invariant in float
    )
