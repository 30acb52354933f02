"""Training: data -> random degradation on the device -> model -> loss, with EMA, checkpoints and DDP.

A run is driven by a config (see :data:`DEFAULTS` for every key and its default)::

    trainer = Trainer(load_config("configs/train/smoke.yaml"), "runs/smoke")
    summary = trainer.fit()

What a step does: the batch sampler hands this rank the sample keys of step ``s``
(:class:`fusion.data.StepBatchSampler`); the patches go to the device, where
:class:`fusion.degrade.RandomDegradation` draws the degradation from a generator seeded by
``(seed, s, rank)``. **One ratio per batch**: the model's output must have the reference's size for a
batched loss, and samples with different ratios would cover different extents of it, so the ratio is
drawn per batch (uniform in ``degrade.ratio``) and the LR size is ``round(P / r)``; the exact ratio
of the batch is ``P / round(P / r)``. Cube datasets have no guide: it is synthesised from the
reference with ``degrade.guide``'s sensor response. Data that bring their own LR input
(PanCollection with ``use_lr``) are used as they are.

The forward pass runs under bf16 autocast on CUDA (``train.amp``), optionally ``torch.compile``d;
gradients are clipped to ``train.grad_clip``; an EMA of the weights (``train.ema``) is what is
validated and exported. Validation degrades each validation image at the fixed ``val.ratios``
(sensor MTF, no noise) and reports PSNR (peak 1 on the scaled data), SAM (degrees) and ERGAS per
ratio and their means; the best checkpoint by ``val.monitor`` is kept.

Run folder: ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON object per log line:
``split`` ``train`` or ``val``; after a resume, later lines for the same step supersede earlier
ones), ``last.pt`` (everything needed to resume), ``checkpoints/step_*.pt`` (the last
``train.keep_checkpoints``), ``best.pt`` (weights, metadata and validation metrics only). All
checkpoints are written atomically. ``Trainer(..., resume=path)`` restores weights, EMA, optimiser,
schedule, step, best value and RNG state; batches and degradations are functions of the step, so a
resumed run continues exactly as an uninterrupted one.

Distributed: under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DDP (NCCL on CUDA, gloo
on CPU), each rank draws its own shard of every epoch (``train.batch_size`` is per rank), only rank 0
writes, and logged losses and validation metrics are reduced over ranks.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from fusion.atomic import atomic_output
from fusion.config import dump_config, resolve
from fusion.data import FusionDataset, StepBatchSampler, build_dataset
from fusion.degrade import Degradation, RandomDegradation, sensor_srf
from fusion.engine import pick_device
from fusion.engine.checkpoint import read_checkpoint, save_checkpoint
from fusion.engine.losses import build_loss
from fusion.engine.optim import EMA, build_optimizer, build_scheduler
from fusion.errors import InputError, OutputError
from fusion.models import FusionModel, create_model
from fusion.registry import MODELS

DEFAULTS: dict[str, Any] = {
    "model": {"name": None, "args": {}},  # registry spec; lr_bands / guide_bands are taken from the data
    "data": {"name": None, "root": None, "args": {}},  # a fusion.data dataset spec (args: patch, files...)
    "val": {
        "data": None,  # dataset spec; name, root and args default to data's, crop to centre; None: none
        "ratios": [2, 3, 4, 3.3, 8],
        "every": 500,  # steps between validations (and at the end)
        "batch_size": 1,
        "monitor": "psnr",  # psnr (higher is better), sam or ergas (lower), or e.g. psnr@4
    },
    # held-out test data, never seen in training (validation may pick the best step): scored by
    # `fusion bench holdout`, which falls back to val.data when this is None; same form as val.data
    "test": {"data": None},
    "degrade": {
        "sensor": None,  # preset whose MTF gains blur the LR bands (None: generic 0.3)
        "ratio": [2.0, 8.0],  # uniform range of the per-batch ratio
        "gnyq_jitter": 0.1,
        "snr_db": None,  # [low, high] of the LR noise, None: noiseless
        "guide_snr_db": None,
        "shift": 0.0,  # largest misregistration in LR pixels
        "phase": "toolbox",
        "guide": {"sensor": None, "bands": "ms"},  # response synthesising a guide for cube data (ms or pan)
    },
    "loss": {"name": "l1", "args": {}},
    "optim": {"name": "adamw", "lr": 2.0e-4},  # other keys go to the torch optimiser
    "schedule": {"steps": 1000, "warmup": 0, "min_lr_factor": 0.0},
    "train": {
        "batch_size": 8,  # per process
        "seed": 0,
        "workers": 0,  # DataLoader worker processes
        "amp": True,  # bf16 autocast on CUDA (ignored on CPU)
        "compile": False,
        "grad_clip": 1.0,  # max gradient norm; 0 or None: no clipping
        "ema": 0.999,  # EMA decay; 0 or None: no EMA
        "checkpoint_every": 500,
        "keep_checkpoints": 2,
        "deterministic": False,
        "stop_at": None,  # stop after this step as if interrupted (last.pt is written): time-sliced jobs
        "time_limit": None,  # seconds; stop (and write last.pt) at the first log step past it
    },
    "log": {"every": 10, "progress": True, "tensorboard": False},
}
OPEN_KEYS = ("model.args", "data.args", "optim", "loss.args", "val.data", "test.data")


def resolve_train_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` completed with :data:`DEFAULTS`; unknown keys and missing names are errors."""
    resolved = resolve(config, DEFAULTS, OPEN_KEYS)
    for section in ("model", "data"):
        if not resolved[section]["name"]:
            raise InputError(f"config needs {section}.name")
    if resolved["data"]["root"] is None:
        raise InputError("config needs data.root (the dataset folder)")
    return resolved


# -- processes and devices ----------------------------------------------------------------------
@dataclass(frozen=True)
class DistEnv:
    """This process among the data-parallel ones (from torchrun's environment variables)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @classmethod
    def from_env(cls) -> DistEnv:
        return cls(
            int(os.environ.get("RANK", 0)),
            int(os.environ.get("LOCAL_RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)),
        )

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def seed_for(*parts: int) -> int:
    """A 63-bit seed derived from integers (a stable hash, unlike Python's ``hash``)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> 1)


def all_reduce_sum(values: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """``values`` summed over ranks (unchanged in a single process)."""
    if env.active:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


# -- building blocks ----------------------------------------------------------------------------
def build_model_for_data(spec: Mapping[str, Any], bands: int, guide_bands: int, source: str) -> FusionModel:
    """Build ``spec`` with the data's band counts injected; a configured count that differs is an error."""
    name = spec["name"]
    try:
        cls = MODELS.get(name)
    except KeyError as exc:
        raise InputError(str(exc.args[0])) from None
    counts = {"lr_bands": (bands, "low-resolution"), "guide_bands": (guide_bands, "guide")}

    def check(key: str, found, how: str) -> None:
        value, what = counts[key]
        if found is not None and int(found) != value:
            raise InputError(
                f"model {name!r} is {how} for {found} {what} bands but the data in {source} have {value}"
            )

    args = dict(spec.get("args") or {})
    accepted = inspect.signature(cls).parameters
    for key, (value, _) in counts.items():
        check(key, args.get(key), "configured")
        if key in accepted:
            args[key] = value
    try:
        model = create_model(name, **args)
    except TypeError as exc:
        raise InputError(f"model {name!r}: {exc}") from None
    for key in counts:
        check(key, getattr(model, key, None), "built")
    return model


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when ``enabled``; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def train_step(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr: torch.Tensor,
    guide: torch.Tensor,
    gt: torch.Tensor,
    grad_clip: float | None = None,
    amp: bool = False,
) -> torch.Tensor:
    """One optimiser step on ``(lr (B, C, h, w), guide (B, G, H, W)) -> gt (B, C, H, W)``; returns the
    detached loss.

    A step whose loss or gradient norm is not finite (a bf16 overflow, a degenerate batch) is skipped,
    so one bad batch cannot turn every weight into NaN; the returned loss shows it in the log.
    """
    optimizer.zero_grad(set_to_none=True)
    with autocast(gt.device, amp):
        pred = model(lr, guide, out_size=tuple(gt.shape[-2:]))
    loss = loss_fn(pred.float(), gt.float())
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    if bool(torch.isfinite(loss) & torch.isfinite(norm)):
        optimizer.step()
    return loss.detach()


def metric_mode(monitor: str) -> str:
    """``"max"`` for PSNR-like monitors, ``"min"`` for SAM and ERGAS."""
    base = monitor.split("@")[0]
    if base not in ("psnr", "sam", "ergas"):
        raise InputError(f"val.monitor must be psnr, sam or ergas (optionally @ratio), got {monitor!r}")
    return "max" if base == "psnr" else "min"


def summary_writer():
    """TensorBoard's ``SummaryWriter`` class; a clear error when the package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError("log.tensorboard needs the tensorboard package (pip install tensorboard)") from None
    return SummaryWriter


class RunLog:
    """JSONL metrics, an optional TensorBoard writer and a progress bar; silent on ranks other than 0."""

    def __init__(
        self, run_dir: Path | None, options: Mapping[str, Any], total: int, start: int, env: DistEnv
    ):
        from tqdm.auto import tqdm

        self.path = None if run_dir is None or not env.is_main else run_dir / "metrics.jsonl"
        self.board = None
        if self.path is not None and options["tensorboard"]:
            self.board = summary_writer()(str(run_dir / "tensorboard"))
        self.bar = tqdm(
            total=total,
            initial=start,
            desc="train",
            dynamic_ncols=True,
            disable=not (env.is_main and options["progress"]),
        )

    def write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with open(self.path, "a") as stream:
                stream.write(json.dumps(record) + "\n")
        if self.board is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step":
                    self.board.add_scalar(f"{record['split']}/{key}", value, record["step"])
        if record["split"] == "train":
            self.bar.set_postfix(loss=f"{record['loss']:.4g}")

    def close(self) -> None:
        self.bar.close()
        if self.board is not None:
            self.board.close()


def resume_path(path: str | os.PathLike) -> Path:
    """The checkpoint to resume from: ``path`` itself, or ``last.pt`` in a run folder."""
    path = Path(path)
    if path.is_dir():
        if not (path / "last.pt").is_file():
            raise InputError(f"{path}: run folder has no last.pt to resume from")
        return path / "last.pt"
    return path


# -- the trainer --------------------------------------------------------------------------------
def guide_response(config: Mapping[str, Any], data: FusionDataset) -> torch.Tensor | None:
    """The ``(G, C)`` response synthesising a guide for ``data`` when they have none (``degrade.guide``
    of a resolved ``config``); ``None`` for data that bring their own guide."""
    if data.guide_bands:
        return None
    guide = config["degrade"]["guide"]
    source = config["data"]["root"]
    if not guide["sensor"]:
        raise InputError(
            f"the data in {source} have no guide: set degrade.guide.sensor (and bands: ms or pan) to "
            "synthesise one with that sensor's spectral response"
        )
    if data.wavelengths_nm is None:
        raise InputError(f"the data in {source} have no band wavelengths to synthesise a guide from")
    if guide["bands"] not in ("ms", "pan"):
        raise InputError(f"degrade.guide.bands must be ms or pan, got {guide['bands']!r}")
    return sensor_srf(guide["sensor"], data.wavelengths_nm, which=guide["bands"])


def validation_dataset(
    config: Mapping[str, Any], train_set: FusionDataset, split: str = "val"
) -> FusionDataset | None:
    """The ``val.data`` (or ``test.data``, ``split="test"``) set of a resolved ``config`` (whole images,
    centre crops, no augmentation; unset keys inherited from ``data``), checked against ``train_set``'s
    band layout."""
    spec = config[split]["data"]
    if spec is None:
        return None
    data = config["data"]
    spec = {"name": data["name"], "root": data["root"], **spec}
    inherited = dict(data["args"]) if spec["name"] == data["name"] else {}
    args = {**inherited, "crop": "centre", **dict(spec.get("args") or {}), "augment": False}
    val_set = build_dataset({**spec, "args": args})
    if (val_set.bands, bool(val_set.guide_bands)) != (train_set.bands, bool(train_set.guide_bands)):
        raise InputError(
            f"{'validation' if split == 'val' else 'test'} data in {spec['root']} have {val_set.bands} bands"
            f"{' and a guide' if val_set.guide_bands else ''}, unlike the training data "
            f"({train_set.bands})"
        )
    return val_set


def fixed_degradations(
    config: Mapping[str, Any], srf: torch.Tensor | None, ratios, device
) -> dict[str, Degradation]:
    """``{"<ratio>": Degradation}`` at each of ``ratios``: the config's sensor MTF (no jitter, no
    noise), sample phase and guide response, as validation uses them."""
    degrade = config["degrade"]
    return {
        f"{float(r):g}": Degradation(
            sensor=degrade["sensor"], ratio=float(r), srf=srf, phase=degrade["phase"]
        ).to(device)
        for r in ratios
    }


class Trainer:
    """Train the configured model; see the module docstring.

    Args:
        config: a training config (completed with :data:`DEFAULTS`).
        run_dir: output folder (created; a folder already holding a run needs ``resume``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available.
        resume: a run folder or a checkpoint written by a previous run.
    """

    def __init__(self, config: Mapping[str, Any], run_dir: str | os.PathLike, device=None, resume=None):
        self.config = cfg = resolve_train_config(config)
        self.run_dir = Path(run_dir)
        self.env = DistEnv.from_env()
        if resume is None and (self.run_dir / "config.yaml").exists():
            raise OutputError(
                f"{self.run_dir}: already holds a run; continue it with --resume {self.run_dir} "
                "or choose another --out"
            )
        checkpoint = read_checkpoint(resume_path(resume)) if resume is not None else None
        if checkpoint is not None and "train_state" not in checkpoint:
            raise InputError(
                f"{resume}: has no training state (an exported checkpoint?); cannot resume from it"
            )
        self.device = pick_device(device, self.env.local_rank)
        self.monitor = cfg["val"]["monitor"]
        self.mode = metric_mode(self.monitor)
        if cfg["log"]["tensorboard"]:
            summary_writer()  # fail before anything is written
        train = cfg["train"]
        if train["deterministic"]:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self._owns_group = False
        if self.env.active and not dist.is_initialized():
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self._owns_group = True

        self.train_set = build_dataset(cfg["data"])
        self.srf = guide_response(cfg, self.train_set)
        guide_bands = self.train_set.guide_bands or int(self.srf.shape[0])
        self.val_set = validation_dataset(cfg, self.train_set)
        torch.manual_seed(seed_for(train["seed"], 1))
        self.module = build_model_for_data(
            cfg["model"], self.train_set.bands, guide_bands, cfg["data"]["root"]
        )
        self.module.to(self.device)
        self.ema = EMA(self.module, train["ema"]).to(self.device) if train["ema"] else None
        self.model: nn.Module = self.module
        if self.env.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.module, device_ids=ids)
        if train["compile"]:
            self.model = torch.compile(self.model)
        self.loss_fn = build_loss(cfg["loss"])
        self.optimizer = build_optimizer(self.module.parameters(), cfg["optim"])
        schedule = cfg["schedule"]
        self.scheduler = build_scheduler(
            self.optimizer, schedule["steps"], schedule["warmup"], schedule["min_lr_factor"]
        )
        degrade = cfg["degrade"]
        self.degradation = RandomDegradation(
            sensor=degrade["sensor"],
            ratio=degrade["ratio"],
            gnyq_jitter=degrade["gnyq_jitter"],
            snr_db=degrade["snr_db"],
            guide_snr_db=degrade["guide_snr_db"],
            shift=degrade["shift"],
            srf=self.srf,
            per_sample=False,
            phase=degrade["phase"],
        ).to(self.device)
        self.step, self.best = 0, None
        if checkpoint is not None:
            self._restore(checkpoint, resume)

    # -- setup helpers --------------------------------------------------------------------------
    def _restore(self, payload: dict[str, Any], source) -> None:
        state = payload["train_state"]
        name = self.config["model"]["name"]
        if payload["model"]["name"] != name:
            raise InputError(
                f"{source}: checkpoint holds model {payload['model']['name']!r}, the config {name!r}"
            )
        try:
            self.module.load_state_dict(state["model"])
            if self.ema is not None:
                self.ema.module.load_state_dict(payload["state_dict"])
                self.ema.updates.fill_(int(state["ema_updates"]))
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise InputError(f"{source}: checkpoint does not fit the configured run: {first}") from None
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"].get("cuda"):
            torch.cuda.set_rng_state(
                state["rng"]["cuda"][self.env.local_rank % len(state["rng"]["cuda"])], self.device
            )
        self.step, self.best = int(payload["step"]), state.get("best")

    def _loader(self) -> DataLoader:
        train = self.config["train"]
        sampler = StepBatchSampler(
            len(self.train_set),
            train["batch_size"],
            seed=train["seed"],
            rank=self.env.rank,
            world_size=self.env.world_size,
            start_step=self.step,
        )
        return DataLoader(
            self.train_set,
            batch_sampler=sampler,
            num_workers=train["workers"],
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(train["seed"]),  # keeps the global RNG untouched
        )

    # -- one batch ------------------------------------------------------------------------------
    def prepare(
        self, batch: Mapping[str, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(lr, guide, gt)`` on the device for ``batch``: degraded here unless it brings its own LR."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        gt = batch["gt"]
        if "lr" in batch:
            return batch["lr"], batch["guide"], gt
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed_for(self.config["train"]["seed"], 2, step, self.env.rank))
        lr, guide, _, _ = self.degradation(gt, guide=batch.get("guide"), generator=generator)
        return lr, guide, gt

    # -- validation -----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean PSNR, SAM and ERGAS over the validation set at each of ``val.ratios`` (reduced over ranks)."""
        if self.val_set is None:
            return {}
        cfg = self.config
        model = self.ema.module if self.ema is not None else self.module
        was_training = model.training
        model.eval()
        degradations = fixed_degradations(cfg, self.srf, cfg["val"]["ratios"], self.device)
        shard = list(range(self.env.rank, len(self.val_set), self.env.world_size))
        loader = DataLoader(
            self.val_set, batch_size=cfg["val"]["batch_size"], sampler=shard, generator=torch.Generator()
        )
        names = ("psnr", "sam", "ergas")
        # sums of the metrics and the sample count per ratio; every rank reduces every key, even a
        # rank whose shard is empty, so that the collective calls match
        sums = {
            key: torch.zeros(4, dtype=torch.float64, device=self.device) for key in [*degradations, "native"]
        }
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            gt = batch["gt"]
            inputs = (
                {"native": (batch["lr"], batch["guide"])}
                if "lr" in batch
                else {key: deg(gt, guide=batch.get("guide"))[:2] for key, deg in degradations.items()}
            )
            for key, (lr, guide) in inputs.items():
                with autocast(self.device, cfg["train"]["amp"]):
                    pred = model(lr, guide, out_size=tuple(gt.shape[-2:]))
                values = evaluate(pred.float(), gt, lr)
                total = torch.stack(
                    [values[n].sum() for n in names]
                    + [torch.tensor(float(gt.shape[0]), device=gt.device, dtype=torch.float64)]
                )
                sums[key] += total
        model.train(was_training)
        result: dict[str, float] = {}
        for key in sorted(sums, key=lambda k: (k == "native", float(k) if k != "native" else 0)):
            reduced = all_reduce_sum(sums[key], self.env).tolist()
            for name, value in zip(names, reduced[:3], strict=True):
                if reduced[3] > 0:
                    result[f"{name}@{key}"] = value / reduced[3]
        for name in names:
            per_ratio = [v for k, v in result.items() if k.startswith(f"{name}@")]
            if per_ratio:
                result[name] = float(np.mean(per_ratio))
        return result

    # -- checkpoints ----------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        degrade = self.config["degrade"]
        guide = degrade["guide"] if not self.train_set.guide_bands else None
        return {
            **self.train_set.describe(),
            "sensor": degrade["sensor"],
            "guide_response": guide,
            "data_range": 1.0,
        }

    def save(self, path: Path, training: bool = True, **extra: Any) -> Path:
        """Write a checkpoint: EMA (else trained) weights for inference, plus the training state when
        ``training``."""
        export = self.ema.module if self.ema is not None else self.module
        if training:
            rng = {"torch": torch.get_rng_state()}
            if self.device.type == "cuda":
                rng["cuda"] = [torch.cuda.get_rng_state(self.device)]
            extra["train_state"] = {
                "model": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "ema_updates": int(self.ema.updates) if self.ema is not None else 0,
                "rng": rng,
                "best": self.best,
            }
        return save_checkpoint(export, path, meta=self.meta(), config=self.config, step=self.step, **extra)

    def checkpoint(self) -> None:
        """``last.pt`` and a copy in ``checkpoints/``, keeping the newest ``train.keep_checkpoints``."""
        last = self.save(self.run_dir / "last.pt")
        keep = int(self.config["train"]["keep_checkpoints"] or 0)
        if keep > 0:
            folder = self.run_dir / "checkpoints"
            folder.mkdir(exist_ok=True)
            with atomic_output(folder / f"step_{self.step:07d}.pt", overwrite=True) as tmp:
                shutil.copyfile(last, tmp)
            for old in sorted(folder.glob("step_*.pt"))[:-keep]:
                old.unlink()

    def _improved(self, metrics: Mapping[str, float]) -> bool:
        value = metrics.get(self.monitor)
        if value is None or math.isnan(value):
            return False
        best = None if self.best is None else self.best["value"]
        return best is None or (value > best if self.mode == "max" else value < best)

    # -- the loop -------------------------------------------------------------------------------
    def _log_train(self, log: RunLog, batch_size: int, ratio: float) -> bool:
        """Write the mean loss since the last log line (over ranks); True when ``train.time_limit`` is up."""
        now, window = time.perf_counter(), self._window
        limit = self.config["train"]["time_limit"]
        over = float(limit is not None and now - self._started > limit)
        reduced = all_reduce_sum(
            torch.stack([window["loss"], torch.tensor(over, device=self.device)]), self.env
        )
        log.write(
            {
                "split": "train",
                "step": self.step,
                "loss": float(reduced[0]) / (window["steps"] * self.env.world_size),
                "lr": self.scheduler.get_last_lr()[0],
                "ratio": ratio,
                "samples_per_s": window["steps"]
                * batch_size
                * self.env.world_size
                / max(now - window["time"], 1e-9),
            }
        )
        self._window = {"loss": torch.zeros_like(window["loss"]), "steps": 0, "time": now}
        return bool(reduced[1] > 0)

    def fit(self) -> dict[str, Any]:
        """Train to ``schedule.steps`` (or ``train.stop_at`` / ``train.time_limit``); returns a summary."""
        cfg, train, log_cfg = self.config, self.config["train"], self.config["log"]
        total = int(cfg["schedule"]["steps"])
        stop = min(total, int(train["stop_at"])) if train["stop_at"] is not None else total
        if self.env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            dump_config(cfg, self.run_dir / "config.yaml")
        log = RunLog(self.run_dir, log_cfg, total, self.step, self.env)
        val_every, ckpt_every = int(cfg["val"]["every"]), int(train["checkpoint_every"])
        self._started = time.perf_counter()
        self._window = {"loss": torch.zeros((), device=self.device), "steps": 0, "time": self._started}
        val: dict[str, float] = {}
        self.module.train()
        try:
            batches = iter(self._loader())
            while self.step < stop:
                lr, guide, gt = self.prepare(next(batches), self.step)
                loss = train_step(
                    self.model, self.loss_fn, self.optimizer, lr, guide, gt, train["grad_clip"], train["amp"]
                )
                self.scheduler.step()
                if self.ema is not None:
                    self.ema.update(self.module)
                self.step += 1
                self._window["loss"] += loss
                self._window["steps"] += 1
                log.bar.update(1)
                timed_out = False
                if self.step % int(log_cfg["every"]) == 0 or self.step == stop:
                    timed_out = self._log_train(log, gt.shape[0], float(gt.shape[-2] / lr.shape[-2]))
                if self.val_set is not None and (self.step % val_every == 0 or self.step == total):
                    val = self.validate()
                    log.write({"split": "val", "step": self.step, **val})
                    if self._improved(val):
                        self.best = {"metric": self.monitor, "value": val[self.monitor], "step": self.step}
                        if self.env.is_main:
                            self.save(self.run_dir / "best.pt", training=False, val=val)
                if self.env.is_main and (self.step % ckpt_every == 0 or self.step == stop or timed_out):
                    self.checkpoint()
                if timed_out:
                    break
        finally:
            log.close()
            if self._owns_group:
                dist.barrier()
                dist.destroy_process_group()
        return {
            "step": self.step,
            "finished": self.step >= total,
            "best": self.best,
            "val": val,
            "seconds": time.perf_counter() - self._started,
            "run_dir": str(self.run_dir),
        }


def evaluate(pred: torch.Tensor, gt: torch.Tensor, lr: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample PSNR (peak 1), SAM (degrees) and ERGAS ``(B,)``; NaN for non-finite predictions.

    ERGAS uses the batch's exact ratio, the mean of ``H / h`` and ``W / w``.
    """
    from fusion.metrics import ergas, psnr, sam

    if not torch.isfinite(pred).all():
        nan = torch.full((pred.shape[0],), float("nan"), dtype=torch.float64, device=pred.device)
        return {"psnr": nan, "sam": nan, "ergas": nan}
    ratio = 0.5 * (gt.shape[-2] / lr.shape[-2] + gt.shape[-1] / lr.shape[-1])
    return {"psnr": psnr(pred, gt, data_range=1.0), "sam": sam(pred, gt), "ergas": ergas(pred, gt, ratio)}
