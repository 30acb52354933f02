import itertools
import pickle

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fusion.data import build_dataset
from fusion.errors import InputError


def position_cube(bands, height, width, offset=0.0):
    """``value[c, y, x] = 10000 c + 100 y + x + offset``: every value tells where it came from."""
    c, y, x = np.meshgrid(np.arange(bands), np.arange(height), np.arange(width), indexing="ij")
    return (10000.0 * c + 100.0 * y + x + offset).astype(np.float32)


def ramp(height, width, a=0.01, b=0.02, c=0.3):
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return a * y + b * x + c


@pytest.fixture
def cube_folder(tmp_path):
    wl = np.array([500.0, 600.0, 700.0])
    for number in range(2):
        np.savez(tmp_path / f"c{number}.npz", cube=position_cube(3, 30, 40, 0.5 * number).transpose(1, 2, 0),
                 wavelengths_nm=wl)  # fmt: skip
    return tmp_path


def test_hsi_cubes_crop_windows_of_the_right_image(cube_folder):
    data = build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": {"patch": 8, "augment": False}})
    assert (len(data), data.bands, data.guide_bands, data.wavelengths_nm) == (
        32,
        3,
        None,
        (500.0, 600.0, 700.0),
    )
    tops = set()
    for key in range(40):
        gt = data[key]["gt"].numpy()
        corner = gt[0, 0, 0]
        offset, top, left = corner % 1, int(corner) // 100, int(corner) % 100
        assert offset == 0.5 * (key % 2)  # key k reads image k % 2
        np.testing.assert_array_equal(gt, position_cube(3, 30, 40, offset)[:, top : top + 8, left : left + 8])
        tops.add(top)
        np.testing.assert_array_equal(data[key]["gt"].numpy(), gt)  # a key always gives the same crop
    assert len(tops) > 10


def test_hsi_cubes_centre_crop_and_augmented_crops(cube_folder):
    centre = build_dataset(
        {"name": "hsi-cubes", "root": cube_folder, "args": {"patch": 10, "crop": "centre"}}
    )
    assert len(centre) == 2
    np.testing.assert_array_equal(centre[1]["gt"].numpy(), position_cube(3, 30, 40, 0.5)[:, 10:20, 15:25])
    flipped = build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": {"patch": 6}})
    gt = flipped[3]["gt"].numpy()
    values = np.sort(gt.ravel())
    corner = values[0]
    top, left = int(corner) // 100, int(corner) % 100
    np.testing.assert_array_equal(
        values, np.sort(position_cube(3, 30, 40, 0.5)[:, top : top + 6, left : left + 6].ravel())
    )


def test_hsi_cubes_errors(tmp_path, cube_folder):
    with pytest.raises(InputError, match="nowhere: dataset folder not found"):
        build_dataset({"name": "hsi-cubes", "root": tmp_path / "nowhere"})
    with pytest.raises(InputError, match="no cube files matching"):
        build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": {"files": "*.mat"}})
    np.savez(cube_folder / "c2.npz", cube=np.zeros((30, 40, 4), np.float32), wavelengths_nm=np.arange(4.0))
    with pytest.raises(InputError, match="c2.npz: has 4 bands but c0.npz has 3"):
        build_dataset({"name": "hsi-cubes", "root": cube_folder})
    with pytest.raises(InputError, match="unknown dataset 'hsi-cube'; did you mean hsi-cubes"):
        build_dataset({"name": "hsi-cube", "root": cube_folder})
    with pytest.raises(InputError, match="unexpected keyword argument 'patches'"):
        build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": {"patches": 3}})


def check_reduced_ramp(guide, top, left, ratio=4):
    """The guide reduced onto LR pixels ``k`` equals the ramp at their centres ``(k + 0.5) r - 0.5``
    (bicubic resizing reproduces linear functions away from the image border)."""
    height, width = guide.shape[-2:]
    ys = (np.arange(top, top + height) + 0.5) * ratio - 0.5
    xs = (np.arange(left, left + width) + 0.5) * ratio - 0.5
    expected = 0.01 * ys[:, None] + 0.02 * xs[None, :] + 0.3
    np.testing.assert_allclose(guide[0, 3:-3, 3:-3], expected[3:-3, 3:-3], atol=1e-5)


def test_pan_ms_pairs_from_npz_and_geotiff(tmp_path, make_geotiff):
    ms = np.random.default_rng(0).random((16, 16, 3)) * 2000
    pan = ramp(64, 64) * 2000
    np.savez(tmp_path / "a.npz", pan=pan, ms=ms)
    make_geotiff("b_pan.tif", pan.astype(np.float32), res=1.0)
    make_geotiff("b_ms.tif", ms.transpose(2, 0, 1).astype(np.float32), res=4.0)
    data = build_dataset({"name": "pan-ms-pairs", "root": tmp_path, "args": {"patch": None, "scale": 2000}})
    assert (len(data), data.bands, data.guide_bands) == (2, 3, 1)
    for image in range(2):
        sample = data[image]
        np.testing.assert_allclose(sample["gt"].numpy(), ms.transpose(2, 0, 1) / 2000, rtol=1e-6)
        check_reduced_ramp(sample["guide"].numpy(), 0, 0)
    crops = build_dataset({"name": "pan-ms-pairs", "root": tmp_path, "args": {"patch": 8, "scale": 2000}})
    sample = crops[5]
    assert sample["gt"].shape == (3, 8, 8) and sample["guide"].shape == (1, 8, 8)
    with pytest.raises(InputError, match="no pair files"):
        build_dataset(
            {
                "name": "pan-ms-pairs",
                "root": tmp_path,
                "args": {"files": "*.none", "tif_pairs": ["*_x.tif", "*_y.tif"]},
            }
        )


def test_pancollection_aligned_crops(tmp_path):
    rng = np.random.default_rng(1)
    gt = rng.random((3, 4, 16, 16)) * 2047
    ms = F.avg_pool2d(torch.from_numpy(gt), 4).numpy()
    with h5py.File(tmp_path / "train.h5", "w") as stream:
        stream["gt"], stream["ms"], stream["pan"] = gt, ms, gt.mean(axis=1, keepdims=True)
        stream["lms"] = np.repeat(np.repeat(ms, 4, axis=2), 4, axis=3)
    data = build_dataset({"name": "pancollection", "root": tmp_path / "train.h5", "args": {"patch": 8}})
    assert (len(data), data.bands, data.guide_bands) == (3 * 16, 4, 1)
    for key in range(20):
        sample = data[key]
        assert sample["lr"].shape == (4, 2, 2) and sample["gt"].shape == (4, 8, 8)
        # each LR pixel is the mean of the 4 x 4 reference pixels it covers: the crops are aligned
        torch.testing.assert_close(sample["lr"], F.avg_pool2d(sample["gt"][None], 4)[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(sample["guide"][0], sample["gt"].mean(0), rtol=1e-5, atol=1e-6)
    whole = build_dataset(
        {"name": "pancollection", "root": tmp_path, "args": {"patch": None, "use_lr": False}}
    )
    sample = whole[2]
    assert set(sample) == {"gt", "guide"}
    np.testing.assert_allclose(sample["gt"].numpy(), gt[2] / 2047, rtol=1e-6)
    with pytest.raises(InputError, match="not a multiple of the ratio 4"):
        build_dataset({"name": "pancollection", "root": tmp_path, "args": {"patch": 6}})
    with h5py.File(tmp_path / "bad.h5", "w") as stream:
        stream["gt"] = gt
    with pytest.raises(InputError, match="bad.h5: PanCollection file lacks ms, pan"):
        build_dataset({"name": "pancollection", "root": tmp_path / "bad.h5"})


def test_geotiff_scenes_read_aligned_windows(tmp_path, make_geotiff):
    lr = position_cube(2, 24, 20)
    make_geotiff("s_pan.tif", ramp(96, 80).astype(np.float32), res=10.0)
    make_geotiff("s_ms.tif", lr, res=40.0)
    data = build_dataset(
        {"name": "geotiff-scenes", "root": tmp_path, "args": {"patch": 12, "augment": False}}
    )
    assert (len(data), data.bands, data.guide_bands) == (16, 2, 1)
    for key in range(6):
        sample = data[key]
        corner = int(sample["gt"][0, 0, 0])
        top, left = corner // 100, corner % 100
        np.testing.assert_array_equal(sample["gt"].numpy(), lr[:, top : top + 12, left : left + 12])
        check_reduced_ramp(sample["guide"].numpy(), top, left)
    with pytest.raises(InputError, match="no low-resolution partner"):
        build_dataset({"name": "geotiff-scenes", "root": tmp_path, "args": {"lr": "*_hs.tif"}})


def test_region_holds_out_part_of_each_image(cube_folder):
    args = {"patch": 6, "augment": False, "region": [[None, None], [25, None]]}
    data = build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": args})
    lefts = {int(data[key]["gt"][0, 0, 0]) % 100 for key in range(60)}
    assert min(lefts) == 25 and max(lefts) == 40 - 6  # every crop inside columns 25..39
    val = build_dataset({"name": "hsi-cubes", "root": cube_folder, "args": {**args, "patch": None}})
    np.testing.assert_array_equal(val[0]["gt"].numpy(), position_cube(3, 30, 40)[:, :, 25:])
    with pytest.raises(InputError, match="does not support region"):
        build_dataset({"name": "pancollection", "root": cube_folder, "args": {"region": [[0, 4], [0, 4]]}})


def test_configured_wavelengths_and_empty_bands(tmp_path):
    cube = np.random.default_rng(0).random((8, 8, 5)).astype(np.float32)
    cube[..., [1, 3]] = 0
    np.savez(tmp_path / "a.npz", hs=cube)
    args = {"wavelengths_nm": [400, 800], "drop_empty_bands": True, "patch": None}
    data = build_dataset({"name": "hsi-cubes", "root": tmp_path, "args": args})
    assert data.bands == 3 and data.wavelengths_nm == (400.0, 600.0, 800.0)
    np.testing.assert_array_equal(data[0]["gt"].numpy(), cube[..., [0, 2, 4]].transpose(2, 0, 1))
    # the band metadata recorded in checkpoints are plain floats: a weights-only torch.load reads them
    described = data.describe()
    assert described["band_centres_nm"] == [400.0, 600.0, 800.0]
    torch.save(described, tmp_path / "meta.pt")
    assert torch.load(tmp_path / "meta.pt", weights_only=True) == described
    with pytest.raises(InputError, match="a.npz: 3 configured wavelengths for 5 bands"):
        build_dataset({"name": "hsi-cubes", "root": tmp_path, "args": {"wavelengths_nm": [1, 2, 3]}})


def test_file_backed_datasets_survive_pickling_and_worker_processes(tmp_path, make_geotiff):
    make_geotiff("s_pan.tif", ramp(96, 80).astype(np.float32), res=10.0)
    make_geotiff("s_ms.tif", position_cube(2, 24, 20), res=40.0)
    data = build_dataset({"name": "geotiff-scenes", "root": tmp_path, "args": {"patch": 12}})
    expected = [data[key] for key in range(4)]  # opens the scene in this process first
    copy = pickle.loads(pickle.dumps(data))
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2)
    batches = list(itertools.islice(iter(loader), 2))
    for key in range(4):
        for name in ("gt", "guide"):
            torch.testing.assert_close(copy[key][name], expected[key][name], rtol=0, atol=0)
            torch.testing.assert_close(batches[key // 2][name][key % 2], expected[key][name], rtol=0, atol=0)
