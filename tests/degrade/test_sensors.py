"""Sensor presets: names, aliases, fallbacks, and consistency of every YAML file."""

import warnings

import pytest

from fusion.degrade import get_sensor, gnyq_for, list_sensors, pan_gnyq
from fusion.degrade.sensors import normalize_name

EXPECTED = {
    "quickbird",
    "ikonos",
    "geoeye1",
    "worldview2",
    "worldview3",
    "worldview4",
    "pleiades",
    "spot7",
    "landsat8_oli",
    "sentinel2_10m",
    "sentinel2_20m",
    "sentinel2_60m",
    "eo1_ali",
    "eo1_hyperion",
    "prisma",
    "generic",
}


def test_all_issue_sensors_are_listed():
    assert EXPECTED <= set(list_sensors())


@pytest.mark.parametrize("name", ["WV2", "worldview-2", "WorldView2", "WORLD VIEW 2", "wv_2"])
def test_aliases_find_worldview2(name):
    assert get_sensor(name).name == "WorldView-2"


def test_toolbox_values():
    assert get_sensor("QB").gnyq == (0.34, 0.32, 0.30, 0.22) and pan_gnyq("QB") == 0.15
    assert get_sensor("WV2").gnyq == (0.35,) * 7 + (0.27,) and pan_gnyq("wv2") == 0.11
    assert get_sensor("Pléiades 1B").name == "Pléiades"
    assert get_sensor("S2-20m").n_bands == 6 and get_sensor("HYP").n_bands == 242
    assert get_sensor("HYP").gnyq[20:22] == (0.27, 0.28) and get_sensor("HYP").gnyq[-1] == 0.27


def test_unknown_sensor_warns_and_falls_back_to_generic():
    with pytest.warns(UserWarning, match="unknown sensor"):
        sensor = get_sensor("GaoFen-9")
    assert sensor.key == "generic" and sensor.gnyq_for(5) == (0.3,) * 5 and sensor.pan_gain == 0.15


def test_gnyq_for_any_band_count():
    assert gnyq_for("WV3", 8) == get_sensor("WV3").gnyq
    assert gnyq_for("WV3", 4) == (0.3,) * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gnyq_for(None, 3) == (0.3,) * 3


def test_normalize_name():
    assert normalize_name("Pléiades-1B") == "pleiades1b"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_preset_is_consistent_and_sourced(key):
    sensor = get_sensor(key)
    n = sensor.n_bands
    assert len(sensor.wavelengths_nm) == len(sensor.fwhm_nm) == len(sensor.gnyq) == n
    assert all(0 < g < 1 for g in sensor.gnyq) and 0 < sensor.pan_gain < 1
    unsorted_ok = {"landsat8_oli", "eo1_hyperion", "prisma"}  # cirrus last; overlapping spectrometers
    assert list(sensor.wavelengths_nm) == sorted(sensor.wavelengths_nm) or key in unsorted_ok
    assert all(300 < w < 2600 for w in sensor.wavelengths_nm)
    assert "gnyq" in sensor.sources or key == "generic"
    if key != "generic":
        assert {"wavelengths", "bit_depth", "srf"} <= set(sensor.sources)
