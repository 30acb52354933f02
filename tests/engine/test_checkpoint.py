import pytest
import torch
from torch import nn

from fusion.engine.checkpoint import FORMAT, file_hash, load_checkpoint, read_checkpoint, save_checkpoint
from fusion.errors import InputError
from fusion.models import FusionModel, create_model
from fusion.registry import MODELS


class TinyConv(FusionModel):
    """A two-layer conv model used only by these tests."""

    def __init__(self, lr_bands: int = 3, width: int = 5):
        super().__init__(lr_bands=lr_bands)
        self.body = nn.Sequential(nn.Conv2d(lr_bands + 1, width, 3, padding=1), nn.Conv2d(width, lr_bands, 1))

    def forward(self, lr, guide, out_size=None, stats=None):
        out_size = self.check_inputs(lr, guide, out_size)
        up = nn.functional.interpolate(lr, size=out_size, mode="bilinear", align_corners=False)
        return up + self.body(torch.cat([up, guide], 1))


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(MODELS._entries, "tiny-conv", TinyConv)
    torch.manual_seed(0)
    return create_model("tiny-conv", lr_bands=3, width=6)


def test_round_trip_rebuilds_model_and_outputs(tiny, tmp_path):
    lr, guide = torch.rand(2, 3, 5, 7), torch.rand(2, 1, 10, 14)
    path = save_checkpoint(tiny, tmp_path / "m.pt", meta={"sensor": "generic", "lr_bands": 3}, step=7)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT
    assert payload["model"] == {"name": "tiny-conv", "args": {"lr_bands": 3, "width": 6}}
    model, payload = load_checkpoint(path)
    assert payload["meta"]["sensor"] == "generic" and payload["step"] == 7
    torch.testing.assert_close(model(lr, guide), tiny(lr, guide), rtol=0, atol=0)
    assert len(file_hash(path)) == 12


def test_corrupt_and_foreign_checkpoints_name_the_file(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "m.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="truncated.pt: not a readable fusion checkpoint"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(InputError, match="foreign.pt: not a fusion checkpoint"):
        read_checkpoint(foreign)
    with pytest.raises(InputError, match="missing.pt: checkpoint not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_are_reported(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["model"]["args"]["width"] = 4
    torch.save(payload, path)
    with pytest.raises(InputError, match="weights do not fit model 'tiny-conv'"):
        load_checkpoint(path)
