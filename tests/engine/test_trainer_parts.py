"""Losses, optimiser, schedule, EMA and config resolution used by the trainer."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from fusion.config import load_config, resolve
from fusion.engine.losses import build_loss, spectral_angle
from fusion.engine.optim import EMA, build_optimizer, build_scheduler, warmup_cosine
from fusion.engine.trainer import DEFAULTS, OPEN_KEYS, metric_mode, resolve_train_config, train_step
from fusion.errors import InputError
from fusion.metrics import sam
from fusion.registry import DATASETS, MODELS


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 5, 4, 3, generator=g) + 0.1, torch.rand(2, 5, 4, 3, generator=g) + 0.1


def test_pixel_losses_by_hand(pair):
    pred, target = pair
    diff = (pred - target).flatten().tolist()
    assert build_loss("l1")(pred, target).item() == pytest.approx(
        sum(abs(d) for d in diff) / len(diff), rel=1e-6
    )
    assert build_loss("mse")(pred, target).item() == pytest.approx(
        sum(d * d for d in diff) / len(diff), rel=1e-6
    )


def test_sam_loss_is_the_metric_in_radians_and_has_finite_gradients(pair):
    pred, target = pair
    loss = build_loss({"name": "sam", "args": {"eps": 1e-12}})(pred.double(), target.double())
    assert loss.item() == pytest.approx(math.radians(sam(pred, target).mean().item()), rel=1e-6)
    same = target.clone().requires_grad_(True)
    spectral_angle(same, target).backward()  # identical spectra: acos' slope is infinite at 1
    assert torch.isfinite(same.grad).all()
    assert spectral_angle(target, target).item() == pytest.approx(0.0, abs=2e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sam_loss_gradient_is_finite_where_the_cosine_rounds_to_one(dtype):
    target = torch.ones(1, 4, 3, 3, dtype=dtype)  # cosine exactly 1 in float32: the slope of acos is infinite
    pred = target.clone().requires_grad_(True)
    spectral_angle(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    zero = torch.zeros(1, 4, 3, 3, dtype=dtype, requires_grad=True)  # an all-zero spectrum has no direction
    spectral_angle(zero, target).backward()
    assert torch.isfinite(zero.grad).all()


def test_combination_is_the_weighted_sum(pair):
    pred, target = pair
    spec = {
        "name": "combination",
        "args": {"terms": [{"name": "l1", "weight": 2.0}, {"name": "sam", "weight": 0.5}]},
    }
    expected = 2 * build_loss("l1")(pred, target) + 0.5 * build_loss("sam")(pred, target)
    assert build_loss(spec)(pred, target).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(InputError, match="unknown loss 'l3'"):
        build_loss("l3")
    with pytest.raises(InputError, match="at least one term"):
        build_loss({"name": "combination", "args": {"terms": []}})


def test_warmup_cosine_values():
    factors = [warmup_cosine(s, total=12, warmup=2, floor=0.1) for s in range(14)]
    assert factors[:2] == pytest.approx([1 / 3, 2 / 3])
    assert factors[2] == pytest.approx(1.0)
    assert factors[7] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))  # half-way: 0.55
    assert factors[12:] == pytest.approx([0.1, 0.1])
    layer = nn.Linear(2, 2)
    optimizer = build_optimizer(layer.parameters(), {"name": "sgd", "lr": 0.5})
    scheduler = build_scheduler(optimizer, 12, warmup=2, floor=0.1)
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.5 * f for f in factors[:12]])


def test_optimizer_errors():
    params = nn.Linear(2, 2).parameters()
    with pytest.raises(InputError, match="unknown optimizer 'adamx'"):
        build_optimizer(params, {"name": "adamx"})
    with pytest.raises(InputError, match="optimizer 'adam'.*momentum"):
        build_optimizer(params, {"name": "adam", "lr": 1e-3, "momentum": 0.9})


def test_ema_follows_the_closed_form():
    layer = nn.Linear(1, 1, bias=False)
    nn.init.constant_(layer.weight, 0.0)
    ema = EMA(layer, decay=0.5)
    expected = 0.0
    for n, value in enumerate([1.0, 2.0, 3.0, 4.0]):
        nn.init.constant_(layer.weight, value)
        ema.update(layer)
        decay = min(0.5, (1 + n) / (10 + n))
        expected = decay * expected + (1 - decay) * value
        assert ema.module.weight.item() == pytest.approx(expected)
    assert int(ema.updates) == 4 and not ema.module.weight.requires_grad
    with pytest.raises(InputError, match="EMA decay"):
        EMA(layer, 1.0)


def test_resolve_fills_defaults_and_rejects_unknown_nested_keys():
    config = {"model": {"name": "tiny-cnn", "args": {"anything": 1}}, "data": {"name": "x", "root": "r"}}
    out = resolve_train_config(
        {**config, "train": {"batch_size": 3}, "degrade": {"guide": {"sensor": "d700"}}}
    )
    assert out["train"]["batch_size"] == 3 and out["train"]["seed"] == DEFAULTS["train"]["seed"]
    assert out["degrade"]["guide"] == {"sensor": "d700", "bands": "ms"} and out["model"]["args"] == {
        "anything": 1
    }
    with pytest.raises(InputError, match=r"unknown config key\(s\) train.batchsize in train"):
        resolve_train_config({**config, "train": {"batchsize": 3}})
    with pytest.raises(InputError, match=r"unknown config key\(s\) degrade.guide.band in degrade.guide"):
        resolve_train_config({**config, "degrade": {"guide": {"band": "ms"}}})
    with pytest.raises(InputError, match="config needs data.root"):
        resolve_train_config({**config, "data": {"name": "x"}})
    assert resolve({"optim": {"betas": [0.9, 0.99]}}, {"optim": {"lr": 1}}, OPEN_KEYS)["optim"]["betas"] == [
        0.9,
        0.99,
    ]
    assert [metric_mode(m) for m in ("psnr", "sam@4", "ergas")] == ["max", "min", "min"]
    with pytest.raises(InputError, match="val.monitor"):
        metric_mode("ssim")


def test_configs_extend_others(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "task.yaml").write_text(
        "data: {name: hsi-cubes, root: d, args: {patch: 64, files: a}}\n"
    )
    (tmp_path / "other.yaml").write_text("train: {seed: 3}\ndata: {args: {files: b}}\n")
    (tmp_path / "run.yaml").write_text("extends: [tasks/task.yaml, other.yaml]\nmodel: {name: liif}\n")
    config = load_config(tmp_path / "run.yaml", ["data.args.patch=32"])
    assert config == {
        "data": {"name": "hsi-cubes", "root": "d", "args": {"patch": 32, "files": "b"}},
        "train": {"seed": 3},
        "model": {"name": "liif"},
    }
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\n")
    with pytest.raises(InputError, match="loop.yaml: 'extends' loops back"):
        load_config(tmp_path / "loop.yaml")


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_resolve_to_registered_parts(path):
    config = resolve_train_config(load_config(path))
    assert config["model"]["name"] in MODELS and config["data"]["name"] in DATASETS
    assert metric_mode(config["val"]["monitor"]) == "max"
    assert config["val"]["ratios"] == [2, 3, 4, 3.3, 8]


@pytest.mark.parametrize("poison", ["loss", "gradient"])
def test_a_non_finite_step_is_skipped_and_leaves_the_weights(poison):
    torch.manual_seed(0)

    class Upsampler(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)

        def forward(self, lr, guide, out_size):
            out = self.conv(nn.functional.interpolate(lr, size=out_size))
            return out * float("nan") if poison == "loss" else out

    model = Upsampler()
    if poison == "gradient":  # a finite loss with an infinite gradient, as a bf16 overflow in backward gives
        hook = model.conv.weight.register_hook(lambda grad: grad * float("inf"))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    lr, guide, gt = torch.rand(1, 2, 3, 3), torch.rand(1, 1, 6, 6), torch.rand(1, 2, 6, 6)
    l1 = build_loss("l1")
    loss = train_step(model, l1, optimizer, lr, guide, gt, grad_clip=1.0)
    assert torch.isfinite(loss).item() == (poison == "gradient")
    for old, new in zip(before, model.parameters(), strict=True):
        assert torch.equal(old, new)
    if poison == "gradient":
        hook.remove()
    model.forward = lambda lr, guide, out_size: model.conv(nn.functional.interpolate(lr, size=out_size))
    train_step(model, l1, optimizer, lr, guide, gt)  # a finite step moves the weights
    assert not torch.equal(before[0], model.conv.weight)
