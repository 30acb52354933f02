import pytest

from fusion.config import apply_overrides, dump_config, load_config
from fusion.errors import InputError


def test_overrides_parse_yaml_values_and_never_mutate(tmp_path):
    base = {"model": {"name": "liif", "args": {"hidden": 64}}}
    overrides = ["model.args.hidden=256", "train.lr=2e-4", "train.ratios=[2, 3.3]", "log.on=true"]
    out = apply_overrides(base, overrides)
    assert out["model"]["args"]["hidden"] == 256 and base["model"]["args"]["hidden"] == 64
    assert out["train"] == {"lr": 2e-4, "ratios": [2, 3.3]} and out["log"]["on"] is True
    parsed = apply_overrides({}, ["a=10", "b=1e3", "c=abc", "d=.5"])
    assert parsed == {"a": 10, "b": 1000.0, "c": "abc", "d": 0.5}


def test_load_round_trip_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: liif}\ntrain: {steps: 10}\n")
    config = load_config(path, ["train.steps=20"])
    assert config == {"model": {"name": "liif"}, "train": {"steps": 20}}
    dumped = dump_config(config, tmp_path / "resolved.yaml")
    assert load_config(dumped) == config
    path.write_text("model: {name: liif}\ntrian: {steps: 10}\n")
    with pytest.raises(InputError, match=r"c.yaml: unknown config key\(s\) trian"):
        load_config(path)
    with pytest.raises(InputError, match="config not found"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(InputError, match="expected key.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(InputError, match="'name' is not a mapping"):
        apply_overrides({"model": {"name": "x"}}, ["model.name.sub=1"])
