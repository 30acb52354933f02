"""``scripts/ship_checkpoint.py --back-projection N``: the shipped model is the trained one wrapped in
back-projection onto its LR input, and every loader (``load_checkpoint``, ``fusion fuse --method NAME``
through ``resolve_model``) applies it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))
from shipped_factory import load_script, temporary_weights, training_checkpoint  # noqa: E402

from fusion.degrade import blur_decimate, upsample  # noqa: E402
from fusion.engine.checkpoint import load_checkpoint, read_checkpoint  # noqa: E402
from fusion.engine.inference import resolve_model  # noqa: E402
from fusion.errors import InputError  # noqa: E402
from fusion.models.consistency import BackProjected  # noqa: E402

PROJECTION = {"iterations": 3, "gnyq": 0.3, "phase": "centre"}
SCALE = 2047.0


def inputs(bands: int, seed: int = 0, ratio: int = 4, size: int = 10):
    generator = torch.Generator().manual_seed(seed)
    lr = 0.2 + torch.rand(1, bands, size, size, generator=generator)
    guide = 0.2 + torch.rand(1, 1, size * ratio, size * ratio, generator=generator)
    return lr, guide


def lr_error(fused: torch.Tensor, lr: torch.Tensor) -> float:
    """RMS of ``lr - D(fused)`` with the centred GNyq-0.3 operator written out here."""
    ratio = fused.shape[-1] / lr.shape[-1]
    reduced = blur_decimate(fused, 0.3, (ratio, ratio), out_size=tuple(lr.shape[-2:]), phase="centre")
    return float((lr - reduced).pow(2).mean().sqrt())


def test_shipped_with_back_projection_is_the_model_then_the_projection(tmp_path):
    ship = load_script("ship_checkpoint")
    source = training_checkpoint(tmp_path / "src.pt", lr_bands=4, guide_bands=1, seed=3)
    (tmp_path / "w").mkdir()
    entry, difference = ship.ship(source, tmp_path / "w" / "m.pt", task="t", back_projection=PROJECTION)
    assert difference < ship.FP16_TOLERANCE
    original, shipped = read_checkpoint(source), read_checkpoint(entry.path)
    assert shipped["model"] == {
        "name": "tiny-cnn",
        "args": {**original["model"]["args"], "back_projection": PROJECTION},
    }
    # the same weights, in fp16, under the wrapper's names
    assert set(shipped["state_dict"]) == {f"model.{key}" for key in original["state_dict"]}
    for key, value in original["state_dict"].items():
        assert torch.equal(shipped["state_dict"][f"model.{key}"], value.half())

    model, _ = load_checkpoint(entry.path)
    assert isinstance(model, BackProjected)
    assert (model.iterations, model.gnyq, model.phase) == (3, 0.3, "centre")
    trained, _ = load_checkpoint(source)
    lr, guide = inputs(4)
    with torch.no_grad():
        plain, projected = trained.eval()(lr, guide), model.eval()(lr, guide)
    # three steps of x <- x + U(lr - D(x)), written out with the degradation operators
    expected = plain
    for _ in range(3):
        residual = lr - blur_decimate(expected, 0.3, (4.0, 4.0), out_size=(10, 10), phase="centre")
        expected = expected + upsample(residual, (40, 40), method="bicubic", phase="centre")
    torch.testing.assert_close(projected, expected, rtol=0, atol=2e-3 * float(expected.abs().max()))
    assert lr_error(projected, lr) < 0.2 * lr_error(plain, lr)


def test_resolve_model_applies_the_shipped_back_projection_in_scene_units(tmp_path, monkeypatch):
    weights = temporary_weights(tmp_path, monkeypatch)
    source = training_checkpoint(tmp_path / "src.pt", 4, 1, [450.0, 550.0, 650.0, 850.0], SCALE, seed=5)
    load_script("ship_checkpoint").ship(source, weights / "tiny.pt", task="t", back_projection=PROJECTION)
    model, tags = resolve_model("tiny-cnn", 4, 1, wavelengths=[450.0, 550.0, 650.0, 850.0])
    assert tags["FUSION_METHOD"] == "tiny-cnn"
    trained, _ = load_checkpoint(source)
    lr, guide = (x * SCALE for x in inputs(4, seed=1))
    with torch.no_grad():
        fused = model.eval()(lr, guide)
        plain = trained.eval()(lr / SCALE, guide / SCALE) * SCALE
    assert lr_error(fused, lr) < 0.2 * lr_error(plain, lr)


def test_already_back_projected_is_refused_and_nothing_written(tmp_path):
    ship = load_script("ship_checkpoint")
    source = training_checkpoint(tmp_path / "src.pt", seed=1)
    (tmp_path / "w").mkdir()
    entry, _ = ship.ship(source, tmp_path / "w" / "bp.pt", task="t", back_projection=PROJECTION)
    with pytest.raises(InputError, match=r"already back-projected \({'iterations': 3"):
        ship.ship(entry.path, tmp_path / "w" / "twice.pt", task="t", back_projection=PROJECTION)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["bp.pt", "index.json"]


def test_command_line_options(tmp_path, capsys):
    ship = load_script("ship_checkpoint")
    source = training_checkpoint(tmp_path / "src.pt", seed=2)
    (tmp_path / "w").mkdir()
    ship.main([str(source), str(tmp_path / "w" / "a.pt"), "--back-projection", "2", "--bp-phase", "toolbox"])
    spec = read_checkpoint(tmp_path / "w" / "a.pt")["model"]["args"]["back_projection"]
    assert spec == {"iterations": 2, "gnyq": 0.3, "phase": "toolbox"}
    assert "back-projection 2 steps (GNyq 0.3, phase toolbox)" in capsys.readouterr().out
    ship.main([str(source), str(tmp_path / "w" / "b.pt")])
    assert "back_projection" not in read_checkpoint(tmp_path / "w" / "b.pt")["model"]["args"]
    with pytest.raises(SystemExit, match="ship_checkpoint: .*phase"):
        ship.main([str(source), str(tmp_path / "w" / "c.pt"), "--back-projection", "2", "--bp-phase", "x"])


def test_package_checkpoints_carry_their_task_back_projection():
    """The shipped checkpoints, listed with their true size and hash: the CAVE ones with the glp-hs
    prior and P-CAVE's back-projection (10 steps, GNyq 0.3, centred samples), the WorldView-2 ones with
    the mtf-glp prior and the worldview2 back-projection at the toolbox phase (from their training,
    not added twice), in the spec that every loader rebuilds; the folder within its 25 MB budget."""
    from fusion.degrade.sensors import get_sensor
    from fusion.engine.zoo import SIZE_LIMIT, folder_size, read_index, verified
    from fusion.protocols.p_cave import projection_args

    folder = Path(__file__).resolve().parents[1] / "fusion" / "weights"
    entries = read_index(folder)
    models = ["dynamic-pinr", "hyper-inr", "liif", "naive-pinr", "qis", "ss-inr"]
    assert sorted(e.file for e in entries) == sorted(f"{m}-{t}.pt" for m in models for t in ("cave", "wv2"))
    wv2_projection = {"iterations": 10, "sensor": "worldview2", "phase": "toolbox"}
    for entry in entries:
        payload = read_checkpoint(verified(entry))
        args, meta = payload["model"]["args"], payload["meta"]
        if entry.file.endswith("-cave.pt"):
            assert args["prior"] == "glp-hs" and args["back_projection"] == projection_args(10)
            assert "back-projection 10" in entry.task
        else:
            assert args["prior"] == {"name": "mtf-glp", "sensor": "worldview2"}
            assert args["back_projection"] == wv2_projection
            assert (entry.lr_bands, entry.guide_bands, entry.guide_kind, entry.data_scale) == (
                8,
                1,
                "pan",
                2047.0,
            )
            assert entry.band_centres_nm == get_sensor("worldview2").wavelengths_nm
            assert meta["trained"]["config"]["data"]["args"]["region"] == [[None, None], [0, 240]]
    assert folder_size(folder) < SIZE_LIMIT


def test_index_band_centres_come_from_the_meta_or_the_sensor_preset():
    from fusion.degrade.sensors import get_sensor

    centres = load_script("ship_checkpoint").band_centres
    wv2 = get_sensor("worldview2").wavelengths_nm
    assert wv2[0] == 428.4 and wv2[-1] == 923.3  # configs/sensors/worldview2.yaml
    assert centres({"band_centres_nm": None, "sensor": "worldview2"}, 8) == wv2
    assert centres({"band_centres_nm": [500, 600], "sensor": "worldview2"}, 2) == (500.0, 600.0)
    assert centres({"sensor": "worldview2"}, 4) is None  # the preset has another band count
    assert centres({"band_centres_nm": None, "sensor": None}, 8) is None
