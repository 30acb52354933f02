import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from fusion.data.patches import aligned_window, as_fraction, keyed_rng, random_flip, random_window
from fusion.errors import InputError


def test_keyed_rng_depends_only_on_seed_and_key():
    assert keyed_rng(3, 17).integers(0, 1 << 30) == keyed_rng(3, 17).integers(0, 1 << 30)
    draws = {int(keyed_rng(3, k).integers(0, 1 << 30)) for k in range(50)}
    assert len(draws) == 50
    assert keyed_rng(4, 17).integers(0, 1 << 30) != keyed_rng(3, 17).integers(0, 1 << 30)


def test_random_window_stays_inside_and_reaches_both_ends():
    rng = np.random.default_rng(0)
    windows = [random_window((10, 7), (4, 7), rng) for _ in range(200)]
    tops = {w[0].start for w in windows}
    assert tops == set(range(7)) and all(w[1] == slice(0, 7) for w in windows)
    with pytest.raises(InputError, match="larger than the image"):
        random_window((3, 3), (4, 2), rng)


@pytest.mark.parametrize("ratio", [4, 3.3, 2.5, 1.5])
def test_aligned_windows_cover_the_same_extent(ratio):
    r = as_fraction(ratio)
    lr_patch = 2 * r.denominator  # whole guide pixels for any p / q
    rng = np.random.default_rng(1)
    for _ in range(50):
        (lr_rows, lr_cols), (hr_rows, hr_cols) = aligned_window((45, 60), (r, r), (lr_patch, lr_patch), rng)
        for lr_span, hr_span, length in ((lr_rows, hr_rows, 45), (lr_cols, hr_cols, 60)):
            assert lr_span.start % r.denominator == 0 and lr_span.stop <= length
            # LR pixel k covers HR [k r, (k + 1) r): the spans' edges must coincide exactly
            assert hr_span.start == lr_span.start * r and hr_span.stop == lr_span.stop * r
            assert hr_span.stop - hr_span.start == lr_patch * r


def test_aligned_window_centres_without_rng_and_rejects_partial_pixels():
    (lr_rows, _), (hr_rows, _) = aligned_window((20, 20), (Fraction(2), Fraction(2)), (10, 10), None)
    assert (lr_rows.start, hr_rows.start) == (5, 10)  # admissible starts 0..10, the middle one
    with pytest.raises(InputError, match="multiple of 10"):
        aligned_window((50, 50), (Fraction(33, 10),) * 2, (7, 7), None)


def test_random_flip_applies_one_transform_to_all_arrays():
    base = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6)
    arrays = {"gt": base, "guide": base[:1] * 10}
    seen = set()
    for key in range(40):
        out = random_flip(arrays, keyed_rng(0, key))
        torch.testing.assert_close(out["guide"], out["gt"][:1] * 10, rtol=0, atol=0)
        transforms = itertools.product((0, 1), repeat=3)
        match = [t for t in transforms if torch.equal(_dihedral(base, *t), out["gt"])]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) == 8


def _dihedral(a, flip_y, flip_x, transpose):
    a = a.flip(-2) if flip_y else a
    a = a.flip(-1) if flip_x else a
    return a.transpose(-1, -2) if transpose else a
