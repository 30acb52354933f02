import h5py
import numpy as np
import pytest
import scipy.io

from fusion.data import load_cube
from fusion.errors import InputError


@pytest.fixture
def cube_hwc():
    rng = np.random.default_rng(0)
    return rng.integers(0, 65535, size=(6, 5, 4), dtype=np.uint16), np.array([450.0, 550.0, 650.0, 750.0])


def test_npz_hwc_with_wavelengths_is_scaled_to_unit_range(tmp_path, cube_hwc):
    raw, wl = cube_hwc
    np.savez(tmp_path / "c.npz", cube=raw, wavelengths_nm=wl)
    cube = load_cube(tmp_path / "c.npz")
    assert cube.data.shape == (4, 6, 5) and cube.data.dtype == np.float32
    np.testing.assert_allclose(cube.data, raw.transpose(2, 0, 1) / 65535.0, rtol=1e-7)
    assert cube.wavelengths_nm == (450.0, 550.0, 650.0, 750.0) and cube.scale == 65535.0


def test_band_axis_found_by_wavelength_count_and_explicit_scale(tmp_path, cube_hwc):
    raw, wl = cube_hwc
    np.savez(tmp_path / "c.npz", hs=raw.transpose(2, 0, 1).astype(np.int16), wavelengths=wl)
    cube = load_cube(tmp_path / "c.npz", scale=10000)
    np.testing.assert_allclose(cube.data, raw.transpose(2, 0, 1).astype(np.int16) / 10000.0, rtol=1e-6)


def test_mat_v5_and_v73(tmp_path, cube_hwc):
    raw, wl = cube_hwc
    scipy.io.savemat(tmp_path / "v5.mat", {"hsi": raw, "wl": wl})
    # MATLAB v7.3 files are HDF5 with axes reversed: h5py sees (C, W, H) for an (H, W, C) variable
    with h5py.File(tmp_path / "v73.mat", "w") as stream:
        stream["hsi"] = raw.T
        stream["wl"] = wl[:, None].T
    for name in ("v5.mat", "v73.mat"):
        cube = load_cube(tmp_path / name)
        np.testing.assert_allclose(cube.data, raw.transpose(2, 0, 1) / 65535.0, rtol=1e-7)
        assert cube.wavelengths_nm == tuple(wl)


def test_geotiff_cube_reads_wavelength_tags(tmp_path, cube_hwc, make_geotiff):
    raw, wl = cube_hwc
    chw = raw.transpose(2, 0, 1)
    path = make_geotiff("c.tif", chw, band_tags=[{"wavelength_nm": str(w)} for w in wl])
    cube = load_cube(path)
    np.testing.assert_allclose(cube.data, chw / 65535.0, rtol=1e-7)
    assert cube.wavelengths_nm == tuple(wl)


def test_errors_name_the_file(tmp_path, cube_hwc):
    raw, wl = cube_hwc
    with pytest.raises(InputError, match="missing.npz: no such cube file"):
        load_cube(tmp_path / "missing.npz")
    (tmp_path / "c.png").write_bytes(b"x")
    with pytest.raises(InputError, match="unsupported cube format"):
        load_cube(tmp_path / "c.png")
    np.savez(tmp_path / "bad.npz", cube=raw, wavelengths_nm=wl[:3])
    with pytest.raises(InputError, match="bad.npz: no axis .* has 3 bands"):
        load_cube(tmp_path / "bad.npz")
    np.savez(tmp_path / "two.npz", a=raw, b=raw)
    with pytest.raises(InputError, match="two.npz: cannot tell which array is the cube"):
        load_cube(tmp_path / "two.npz")


def test_cave_cube(shared_data):
    path = shared_data / "hsi" / "cave_balloons.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    cube = load_cube(path)
    raw = np.load(path)["cube"]
    assert (
        cube.data.shape == (31, 512, 512) and cube.wavelengths_nm[0] == 400 and cube.wavelengths_nm[-1] == 700
    )
    np.testing.assert_allclose(cube.data[:, 100, 200], raw[100, 200] / 65535.0, rtol=1e-7)
