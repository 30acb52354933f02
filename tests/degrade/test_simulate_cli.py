"""``fusion simulate``: cube and pair inputs, GeoTIFF outputs equal to the library, manifest, errors."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fusion.cli import cli
from fusion.degrade import reduce_pair, simulate
from fusion.io import read_raster


@pytest.fixture
def cube_file(tmp_path):
    rng = np.random.default_rng(0)
    cube = rng.random((24, 24, 16)) + 0.5  # (H, W, C) as in the .npz convention
    wavelengths = np.linspace(400.0, 700.0, 16)
    path = tmp_path / "cube.npz"
    np.savez(path, cube=cube, wavelengths_nm=wavelengths)
    return path, cube, wavelengths


def run(*args):
    return CliRunner().invoke(cli, ["simulate", *map(str, args)], catch_exceptions=False)


def test_cube_simulation_writes_what_the_library_computes(cube_file, tmp_path):
    path, cube, wavelengths = cube_file
    out = tmp_path / "out"
    result = run(
        path, out, "--sensor", "Nikon D700", "--ratio", 3, "--guide", "msi", "--snr", 30, "--seed", 5
    )
    assert result.exit_code == 0, result.output
    ref = simulate(
        torch.from_numpy(cube).permute(2, 0, 1),
        "d700",
        3,
        guide="msi",
        snr=30,
        wavelengths_nm=wavelengths,
        generator=torch.Generator().manual_seed(5),
    )
    for name, tensor in (("lr", ref.lr), ("guide", ref.guide), ("gt", ref.gt)):
        values, info = read_raster(out / f"{name}.tif")
        np.testing.assert_allclose(values, tensor[0].float().numpy(), rtol=1e-6)
    assert read_raster(out / "lr.tif")[1].wavelengths == tuple(float(w) for w in wavelengths)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == "cube" and manifest["seed"] == 5 and manifest["fusion_version"]
    assert manifest["parameters"]["ratio"] == [3.0, 3.0] and manifest["parameters"]["snr_db"] == 30
    assert np.asarray(manifest["parameters"]["srf"]).shape == (3, 16)
    assert manifest["outputs"]["lr"]["shape"] == [16, 8, 8]
    # the same command rebuilds the same files
    again = tmp_path / "again"
    run(path, again, "--sensor", "Nikon D700", "--ratio", 3, "--guide", "msi", "--snr", 30, "--seed", 5)
    assert np.array_equal(read_raster(again / "lr.tif")[0], read_raster(out / "lr.tif")[0])


def test_pair_input_follows_wald(tmp_path):
    rng = np.random.default_rng(1)
    pan, ms = rng.random((32, 32)), rng.random((8, 8, 4))
    path = tmp_path / "pair.npz"
    np.savez(path, pan=pan, ms=ms)
    result = run(path, tmp_path / "out", "--sensor", "QB")
    assert result.exit_code == 0, result.output
    guide_r, lr_r, _ = reduce_pair(
        torch.from_numpy(pan)[None, None], torch.from_numpy(ms).permute(2, 0, 1)[None], sensor="QB"
    )
    np.testing.assert_allclose(read_raster(tmp_path / "out" / "lr.tif")[0], lr_r[0].float(), rtol=1e-6)
    np.testing.assert_allclose(read_raster(tmp_path / "out" / "guide.tif")[0], guide_r[0].float(), rtol=1e-6)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["mode"] == "wald" and manifest["parameters"]["lr_gnyq"] == [0.34, 0.32, 0.30, 0.22]


def test_errors_are_one_line(cube_file, tmp_path):
    path, cube, _ = cube_file
    bare = tmp_path / "bare.npz"
    np.savez(bare, cube=cube)
    result = CliRunner().invoke(
        cli, ["simulate", str(bare), str(tmp_path / "o"), "--sensor", "wv2", "--ratio", "2"]
    )
    assert result.exit_code == 1 and "give --wavelengths" in result.output
    result = CliRunner().invoke(cli, ["simulate", str(path), str(tmp_path / "o"), "--sensor", "wv2"])
    assert result.exit_code == 1 and "--ratio is required" in result.output
    args = ["simulate", str(path), str(tmp_path / "o"), "--sensor", "wv2", "--ratio", "2", "--guide", "msi"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "outside the HS bands" in result.output  # 400-700 nm cube, NIR bands
