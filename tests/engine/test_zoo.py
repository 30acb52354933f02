"""Shipped checkpoints: index, band-layout lookup, the no-fit error, and resolve_model's use of them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from shipped_factory import load_script, temporary_weights, tiny_model, training_checkpoint

from fusion.engine.checkpoint import file_hash
from fusion.engine.fit import Rescaled
from fusion.engine.inference import resolve_model
from fusion.engine.zoo import Entry, find_shipped, no_fit_error, read_index, shipped_checkpoints
from fusion.errors import InputError

CAVE_NM = [400.0 + 10 * k for k in range(31)]
FOUR_NM = [450.0, 550.0, 650.0, 850.0]


@pytest.fixture
def weights(tmp_path, monkeypatch):
    return temporary_weights(tmp_path, monkeypatch)


def ship(weights, tmp_path, name, task="T", **layout):
    """Train-format checkpoint -> ``weights/name`` through ``scripts/ship_checkpoint.py``."""
    source = training_checkpoint(tmp_path / f"src-{name}", **layout)
    entry, _ = load_script("ship_checkpoint").ship(source, weights / name, task=task)
    return entry


def test_index_lists_what_was_shipped(weights, tmp_path):
    ship(weights, tmp_path, "a.pt", centres=FOUR_NM, data_scale=2047.0)
    ship(weights, tmp_path, "b.pt", lr_bands=31, guide_bands=3, centres=CAVE_NM, data_scale=65535.0)
    entries = shipped_checkpoints()
    assert [(e.file, e.model, e.lr_bands, e.guide_bands) for e in entries] == [
        ("a.pt", "tiny-cnn", 4, 1), ("b.pt", "tiny-cnn", 31, 3)
    ]  # fmt: skip
    a, b = entries
    assert a.band_centres_nm == tuple(FOUR_NM) and a.data_scale == 2047.0 and a.guide_kind == "pan"
    assert b.guide_kind == "msi" and b.guide_response == "nikon_d700" and b.data_scale == 65535.0
    for entry in entries:
        data = (weights / entry.file).read_bytes()
        assert entry.size == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest()
    assert shipped_checkpoints("liif") == [] and len(shipped_checkpoints("tiny-cnn")) == 2
    # re-shipping the same file replaces its entry
    ship(weights, tmp_path, "a.pt", lr_bands=5, centres=None)
    assert [(e.file, e.lr_bands) for e in read_index(weights)] == [("a.pt", 5), ("b.pt", 31)]


def entry(**changes):
    fields = {
        "model": "m", "file": "m.pt", "task": "T", "lr_bands": 4, "guide_bands": 1,
        "band_centres_nm": tuple(FOUR_NM), "guide_kind": "pan", "guide_response": None,
        "data_scale": 1.0, "sha256": "0" * 64, "size": 1,
    }  # fmt: skip
    return Entry(**{**fields, **changes})


@pytest.mark.parametrize(
    ("lr_bands", "guide_bands", "wavelengths", "fits"),
    [
        (4, 1, None, True),  # the scene does not know its band centres: counts decide
        (4, 1, [w + 4.9 for w in FOUR_NM], True),  # within 5 nm
        (4, 1, [w - 5.1 for w in FOUR_NM], False),
        (4, 1, [450.0, 550.0, 650.0, 950.0], False),  # one band off
        (4, 1, [450.0, None, 650.0, 950.0], True),  # partly unknown: counts decide
        (5, 1, None, False),
        (4, 3, None, False),
    ],
)
def test_band_layout_fit(lr_bands, guide_bands, wavelengths, fits):
    assert entry().fits(lr_bands, guide_bands, wavelengths) is fits
    # a checkpoint that does not know its centres fits on the counts alone
    counts_fit = (lr_bands, guide_bands) == (4, 1)
    assert entry(band_centres_nm=None).fits(lr_bands, guide_bands, wavelengths) is counts_fit


def test_find_shipped_prefers_a_checked_spectral_match(weights, tmp_path):
    ship(weights, tmp_path, "a-counts-only.pt", centres=None)
    ship(weights, tmp_path, "b-centres.pt", centres=FOUR_NM)
    assert find_shipped("tiny-cnn", 4, 1, FOUR_NM) == weights / "b-centres.pt"
    assert find_shipped("tiny-cnn", 4, 1, [w + 100 for w in FOUR_NM]) == weights / "a-counts-only.pt"
    assert find_shipped("tiny-cnn", 4, 3) is None and find_shipped("liif", 4, 1) is None


def test_no_fit_error_names_what_is_shipped(weights, tmp_path):
    ship(weights, tmp_path, "cave.pt", lr_bands=31, guide_bands=3, centres=CAVE_NM, task="CAVE")
    assert str(no_fit_error("tiny-cnn", 8, 1)) == (
        "--method tiny-cnn: no shipped checkpoint fits 8 LR bands + 1 guide band (shipped: 31 + 3 (CAVE, "
        "400-700 nm)); use --fit to train it on this scene, or `fusion train`"
    )
    assert str(no_fit_error("liif", 1, 3, [655.0])).startswith(
        "--method liif: no shipped checkpoint fits 1 LR band (655 nm) + 3 guide bands (shipped: none); "
    )
    with pytest.raises(InputError, match="no shipped checkpoint fits 8 LR bands"):
        resolve_model("tiny-cnn", 8, 1)


def test_corrupt_or_missing_files_are_named(weights, tmp_path):
    ship(weights, tmp_path, "a.pt")
    data = bytearray((weights / "a.pt").read_bytes())
    data[-10] ^= 0xFF
    (weights / "a.pt").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"a\.pt: shipped checkpoint does not match its index entry"):
        find_shipped("tiny-cnn", 4, 1)
    (weights / "a.pt").unlink()
    with pytest.raises(InputError, match=r"a\.pt: shipped checkpoint listed in .*index\.json is missing"):
        find_shipped("tiny-cnn", 4, 1)
    (weights / "index.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="index.json: not a readable index"):
        shipped_checkpoints()


def test_empty_or_absent_index_ships_nothing(weights):
    assert shipped_checkpoints() == []
    (weights / "index.json").write_text('{"format": "fusion-weights/1", "checkpoints": []}')
    assert shipped_checkpoints() == [] and find_shipped("tiny-cnn", 4, 1) is None


def test_resolve_model_uses_the_shipped_checkpoint_in_scene_units(weights, tmp_path):
    ship(weights, tmp_path, "wv.pt", centres=FOUR_NM, data_scale=2047.0, seed=3)
    model, tags = resolve_model("tiny-cnn", 4, 1, wavelengths=FOUR_NM)
    assert isinstance(model, Rescaled) and model.scale == 2047.0
    assert tags == {"FUSION_METHOD": "tiny-cnn", "FUSION_CHECKPOINT": file_hash(weights / "wv.pt")}
    generator = torch.Generator().manual_seed(1)
    lr = 2047 * torch.rand(2, 4, 6, 7, generator=generator)
    guide = 2047 * torch.rand(2, 1, 18, 21, generator=generator)
    with torch.no_grad():
        expected = tiny_model(4, 1, seed=3)(lr / 2047.0, guide / 2047.0) * 2047.0
        found = model(lr, guide)
    # fp16 weights: within 1e-3 of the fp32 model, relative to the output's range
    assert float((found - expected).abs().max()) < 1e-3 * float(expected.abs().max())
    assert float((found - lr.mean()).abs().max()) > 0  # not trivially the input
    # --fit (fresh) builds an untrained model from the name, whatever is shipped
    fresh, tags = resolve_model("tiny-cnn", 4, 1, fresh=True)
    assert not isinstance(fresh, Rescaled) and tags == {"FUSION_METHOD": "tiny-cnn"}
    # classical methods are unaffected
    assert resolve_model("gsa", 4, 1)[1] == {"FUSION_METHOD": "gsa"}


def test_checkpoint_path_applies_its_data_scale(tmp_path):
    path = training_checkpoint(tmp_path / "run.pt", data_scale=255.0, seed=5)
    model, tags = resolve_model(str(path), 4, 1)
    assert tags["FUSION_METHOD"] == "tiny-cnn" and isinstance(model, Rescaled)
    lr, guide = 255 * torch.rand(1, 4, 5, 5), 255 * torch.rand(1, 1, 10, 10)
    with torch.no_grad():
        expected = tiny_model(seed=5)(lr / 255.0, guide / 255.0) * 255.0
        np.testing.assert_allclose(model(lr, guide).numpy(), expected.numpy(), rtol=1e-6, atol=1e-4)
    unscaled = training_checkpoint(tmp_path / "unit.pt", data_scale=1.0)
    assert not isinstance(resolve_model(str(unscaled), 4, 1)[0], Rescaled)
