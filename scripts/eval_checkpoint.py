"""Score one checkpoint on CAVE scenes the P-CAVE way and write the EVAL.json of its model card.

    python scripts/eval_checkpoint.py fusion/weights/liif-cave.pt --data ../shared/data/hsi \\
        --scenes cave_balloons --ratios 2 3 4 3.3 6 8 --device cuda \\
        --train-seconds 468 --train-gpu "NVIDIA H200" --out liif-cave-eval.json
    python scripts/model_card.py liif-cave-eval.json --model liif --out docs/models/liif.md

The cases are protocol P-CAVE's (:mod:`fusion.protocols.p_cave`: the scene's 256 x 256 centre crop,
Nikon D700 guide, GNyq-0.3 Gaussian blur and centred decimation, PSNR / SAM / ERGAS on the whole
crop), at every ``--ratios``; the metrics are means over ``--scenes``. Each scene is recorded as held
out or seen in training (from the file patterns of the checkpoint's training config, when known).
The ``train`` part comes from the checkpoint (steps, data files and region of its config); time and
GPU are not in a checkpoint: give them with ``--train-seconds`` / ``--train-gpu``, or edit the JSON.
The schema is in ``scripts/model_card.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion.engine.checkpoint import file_hash, read_checkpoint
from fusion.protocols import p_cave

CARD_RATIOS = (2.0, 3.0, 4.0, 3.3, 6.0, 8.0)


def describe_training(payload: dict) -> dict:
    """The ``train`` part of EVAL.json from what a checkpoint records: its training config (a training
    run's ``config``, a shipped checkpoint's ``meta.trained.config``), step and data scale, and the
    ``train`` entries shipped with it (``scripts/ship_checkpoint.py --card-json``)."""
    meta = payload.get("meta") or {}
    trained = meta.get("trained") or {}
    config = payload.get("config") or trained.get("config") or {}
    data = config.get("data") or {}
    args = data.get("args") or {}
    val_args = ((config.get("val") or {}).get("data") or {}).get("args") or {}
    scale = f", values / {meta['data_scale']:g}" if meta.get("data_scale") else ""
    described = {
        "data": f"{data['root']} files {args.get('files', 'all')}{scale}" if data.get("root") else None,
        "split": f"training region {args.get('region', 'whole images')}; validation files "
        f"{val_args.get('files', 'as training')}, region {val_args.get('region', 'whole images')}"
        if data
        else None,
        "steps": payload.get("step", trained.get("step")),
    }
    return {**described, **(trained.get("train") or {})}


def evaluate_checkpoint(
    checkpoint, data, scenes=None, ratios=CARD_RATIOS, device=None, crop: int = p_cave.CROP
) -> dict:
    """EVAL.json for ``checkpoint`` on the P-CAVE cases of ``scenes`` (stems; default all) in ``data``
    (``crop``: the centre crop's size, the protocol's 256 unless testing)."""
    checkpoint = Path(checkpoint)
    payload = read_checkpoint(checkpoint)
    options = {"ratios": ratios, "device": device, "scenes": scenes, "crop": crop}
    result = p_cave.run(data, methods=[], checkpoints=[checkpoint], **options)
    trained_on = {row["scene"]: row.get("trained_on_scene") for row in result["rows"]}
    meta = result["meta"]
    protocol = (
        f"P-CAVE (fusion.protocols.p_cave): {meta['crop']} x {meta['crop']} centre crops, guide "
        f"{meta['guide']}, LR blurred with GNyq {meta['gnyq']} and decimated at centred positions; "
        f"{meta['metrics']}; device {meta['device']}"
    )
    return {
        "model": payload["model"]["name"],
        "checkpoint": {
            "file": str(checkpoint),
            "bytes": checkpoint.stat().st_size,
            "sha256": file_hash(checkpoint, length=64),
        },
        "train": describe_training(payload),
        "protocol": protocol,
        "scenes": [{"name": name, "trained_on": trained_on.get(name)} for name in meta["scenes"]],
        "metrics": {
            f"{row['ratio']:g}": {key: row[key] for key in ("psnr", "sam", "ergas")} for row in result["mean"]
        },
        "effective_ratios": meta["effective_ratios"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="folder of the cave_*.npz cubes")
    parser.add_argument("--scenes", nargs="+", help="cube stems to score [default: every cube]")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(CARD_RATIOS))
    parser.add_argument("--device", help="cpu, cuda [default: cuda when available]")
    parser.add_argument("--train-seconds", type=float, help="training time of the checkpoint")
    parser.add_argument("--train-gpu", help="GPU it was trained on")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    evaluation = evaluate_checkpoint(args.checkpoint, args.data, args.scenes, args.ratios, args.device)
    if args.train_seconds is not None:
        evaluation["train"]["seconds"] = args.train_seconds
    if args.train_gpu:
        evaluation["train"]["gpu"] = args.train_gpu
    args.out.write_text(json.dumps(evaluation, indent=1) + "\n")
    for ratio, values in evaluation["metrics"].items():
        print(f"x{ratio}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
