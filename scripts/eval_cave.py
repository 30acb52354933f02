"""Compare trained checkpoints with classical HSI–MSI methods on the CAVE hold-out region.

The hold-out is the region the CAVE training configs never see (columns 384–511 of each cube,
``configs/train/tasks/hsi_msi_cave.yaml``). Each region is degraded as in training and in P-CAVE:
RGB guide through the Nikon D700 response, LR cube blurred with GNyq 0.3 at the LR Nyquist and
decimated at pixel centres (``phase="centre"``). Metrics: PSNR (peak 1), SAM (degrees), ERGAS, on the
whole region (no border cut), averaged over the cubes.

    python scripts/eval_cave.py --data ../shared/data/hsi --ckpt runs/liif/best.pt ... --out cave.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fusion.data import load_cube
from fusion.degrade import simulate
from fusion.engine.checkpoint import load_checkpoint
from fusion.metrics import ergas, psnr, sam
from fusion.models import create_model

CLASSICAL = ("exp", "gsa", "sfim-hs", "glp-hs")
HOLD_OUT_COLUMNS = slice(384, None)


def hold_out_pairs(data: Path, ratios, device):
    """``{ratio: [(name, lr, guide, gt), ...]}`` for every CAVE cube in ``data``."""
    pairs = {ratio: [] for ratio in ratios}
    for path in sorted(data.glob("cave_*.npz")):
        cube = load_cube(path)
        gt = torch.as_tensor(cube.data)[..., HOLD_OUT_COLUMNS].to(device, torch.float32)
        for ratio in ratios:
            sim = simulate(gt, "nikon_d700", ratio, guide="msi", wavelengths_nm=cube.wavelengths_nm,
                           phase="centre")
            pairs[ratio].append((path.stem, sim.lr.float(), sim.guide.float(), sim.gt.float()))
    return pairs


@torch.no_grad()
def score(model, pairs) -> dict[str, float]:
    """Mean PSNR / SAM / ERGAS of ``model`` over ``pairs``."""
    rows = []
    for _, lr, guide, gt in pairs:
        fused = model(lr, guide).clamp(0, 1)
        ratio = (gt.shape[-2] / lr.shape[-2] + gt.shape[-1] / lr.shape[-1]) / 2
        metrics = psnr(fused, gt, data_range=1.0), sam(fused, gt), ergas(fused, gt, ratio)
        rows.append(tuple(float(value) for value in metrics))
    return {key: sum(r[i] for r in rows) / len(rows) for i, key in enumerate(("psnr", "sam", "ergas"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--ckpt", type=Path, nargs="*", default=[])
    parser.add_argument("--ratios", type=float, nargs="+", default=[4.0, 3.3])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    device = torch.device(args.device)
    pairs = hold_out_pairs(args.data, args.ratios, device)
    models = {name: create_model(name, sensor="nikon_d700") for name in CLASSICAL}
    for path in args.ckpt:
        model, payload = load_checkpoint(path)
        models[f"{payload['model']['name']} ({path.parent.name})"] = model
    results = {}
    for name, model in models.items():
        model.to(device).eval()
        results[name] = {str(ratio): score(model, pairs[ratio]) for ratio in args.ratios}
        print(name, json.dumps(results[name]), flush=True)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    args.out.write_text(json.dumps({"device": gpu, "ratios": args.ratios, "results": results}, indent=1))


if __name__ == "__main__":
    main()
