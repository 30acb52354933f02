"""Score one checkpoint on CAVE scenes the P-CAVE way and write the EVAL.json of its model card.

    python scripts/eval_checkpoint.py fusion/weights/liif-cave.pt --data ../shared/data/hsi \\
        --scenes cave_balloons --ratios 2 3 4 3.3 6 8 --device cuda \\
        --train-seconds 468 --train-gpu "NVIDIA H200" --out liif-cave-eval.json
    python scripts/model_card.py liif-cave-eval.json --model liif --out docs/models/liif.md

    # a shipped checkpoint whose metrics are those of other checkpoints (its leave-one-out twins) in a
    # P-CAVE result of ``fusion bench quality --protocol p-cave --loo DIR --back-projection 10 --out-json R``
    python scripts/eval_checkpoint.py fusion/weights/liif-cave.pt --from-result R \\
        --label "liif + glp-hs prior + bp" --ablation "glp-hs + bp" --train-seconds 399 --out liif-eval.json

    # a shipped checkpoint scored by ``fusion bench holdout CONFIG -c RUN/last.pt ... --out-json H``
    python scripts/eval_checkpoint.py fusion/weights/qis-wv2.pt --from-holdout H \\
        --label "qis [qis/last.pt]" --train-seconds 400 --out qis-wv2-eval.json

The cases are protocol P-CAVE's (:mod:`fusion.protocols.p_cave`: the scene's 256 x 256 centre crop,
Nikon D700 guide, GNyq-0.3 Gaussian blur and centred decimation, PSNR / SAM / ERGAS on the whole
crop), at every ``--ratios``; the metrics are means over ``--scenes``. Each scene is recorded as held
out or seen in training (from the file patterns of the checkpoint's training config, when known).
The ``train`` part comes from the checkpoint (steps, data files and region of its config); time and
GPU are not in a checkpoint: give them with ``--train-seconds`` / ``--train-gpu``, or edit the JSON.
``--train KEY=VALUE`` sets any other ``train`` entry (e.g. a readable ``data`` or ``config`` text).

``--from-result R --label L``: no scoring; the metrics are the mean rows of ``L`` in the protocol result
``R`` (e.g. the leave-one-out twins of a checkpoint trained on every scene, which has no held-out
scene of its own), described in ``metrics_source`` (which checkpoints, trained on what, tested where);
``--ablation A`` adds ``A``'s mean rows beside them, and ``reference`` says whether they beat the
issue's QIS-GAN numbers at ratio 4 and 3.3.

``--from-holdout H --label L``: no scoring; the metrics are the checkpoint rows of ``L`` in a
``fusion bench holdout`` result ``H`` (the held-out region of the checkpoint's training data, float32),
the protocol is described from ``H`` and the checkpoint's training config, ``baselines`` holds the best
classical value per ratio and metric (and the best back-projected one, when ``H`` has ``+ bp`` rows) with
the method that reached it, and ``verdicts`` the result's verdicts for ``L`` at ratios 4 and 3.3. The
schema is in ``scripts/model_card.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion.bench.holdout import BP_SUFFIX, best_classical, has_projected_classical
from fusion.engine.checkpoint import file_hash, read_checkpoint
from fusion.protocols import p_cave
from fusion.protocols.common import beats

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
        "split": f"training region {_region(args.get('region'))}; validation files "
        f"{val_args.get('files', 'as training')}, region {_region(val_args.get('region'))}"
        if data
        else None,
        "steps": payload.get("step", trained.get("step")),
        "ratios": training_ratios((config.get("degrade") or {}).get("ratio")),
    }
    return {**described, **(trained.get("train") or {})}


def training_ratios(ratio) -> str | None:
    """A training config's ``degrade.ratio`` in words: ``[3, 5]`` is drawn uniformly from that range."""
    if ratio is None:
        return None
    if isinstance(ratio, (list, tuple)) and len(ratio) == 2:
        return f"uniform in [{ratio[0]:g}, {ratio[1]:g}]"
    return f"{ratio}"


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
    return {
        **card_head(checkpoint, payload, p_cave_protocol(meta)),
        "scenes": [{"name": name, "trained_on": trained_on.get(name)} for name in meta["scenes"]],
        "metrics": mean_metrics(result, result["mean"][0]["method"]),
        "effective_ratios": meta["effective_ratios"],
    }


def p_cave_protocol(meta: dict) -> str:
    """The protocol of a P-CAVE result's ``meta``, in words."""
    return (
        f"P-CAVE (fusion.protocols.p_cave): {meta['crop']} x {meta['crop']} centre crops, guide "
        f"{meta['guide']}, LR blurred with GNyq {meta['gnyq']} and decimated at centred positions; "
        f"{meta['metrics']}; device {meta['device']}"
    )


def card_head(checkpoint: Path, payload: dict, protocol: str) -> dict:
    """The parts of EVAL.json about ``checkpoint`` itself (its prior and back-projection included) and
    the ``protocol`` its metrics were measured under."""
    args = payload["model"].get("args") or {}
    return {
        "model": payload["model"]["name"],
        "checkpoint": {
            "file": str(checkpoint),
            "bytes": checkpoint.stat().st_size,
            "sha256": file_hash(checkpoint, length=64),
        },
        "prior": args.get("prior"),
        "back_projection": args.get("back_projection"),
        "train": describe_training(payload),
        "protocol": protocol,
    }


def mean_metrics(result: dict, label: str) -> dict:
    """``{ratio: {psnr, sam, ergas}}``: the mean rows of ``label`` in ``result``, in its order."""
    rows = {f"{row['ratio']:g}": row for row in result["mean"] if row["method"] == label}
    if not rows:
        raise SystemExit(f"eval_checkpoint: the result has no rows of {label!r}")
    return {ratio: {key: row[key] for key in ("psnr", "sam", "ergas")} for ratio, row in rows.items()}


def versus_reference(metrics: dict, ratios=("4", "3.3")) -> dict:
    """Whether ``metrics`` beat the issue's QIS-GAN numbers (``p_cave.REFERENCE_NUMBERS``), per metric
    at each of ``ratios`` they have (QIS-GAN itself was measured at ratio 4 only)."""
    name = "qis-gan (public)"
    theirs = p_cave.REFERENCE_NUMBERS["methods"][name]
    verdicts = {}
    for ratio in (r for r in ratios if r in metrics):
        verdict = {m: beats(metrics[ratio][m], theirs[m], up) for m, up in p_cave.HIGHER_IS_BETTER.items()}
        verdicts[ratio] = {**verdict, "every": all(verdict.values())}
    values = {m: theirs[m] for m in p_cave.HIGHER_IS_BETTER}
    return {"label": name, "ratio": p_cave.REFERENCE_NUMBERS["ratio"], "values": values, "beats": verdicts}


def twin_description(method: dict) -> dict:
    """What a card says of one checkpoint a result's rows came from (a ``meta["methods"]`` entry)."""
    payload = read_checkpoint(method["checkpoint"])
    config = payload.get("config") or {}
    return {
        "file": Path(method["checkpoint"]).name,
        "sha256": method["sha256"],
        "step": method["step"],
        "training_files": method["training_files"],
        "tested_on": method["loo_scene"],
        "steps_planned": (config.get("schedule") or {}).get("steps"),
        "time_limit_s": (config.get("train") or {}).get("time_limit"),
    }


def evaluation_from_result(
    checkpoint, result: dict, label: str, result_file: str, ablation: str | None = None
) -> dict:
    """EVAL.json for ``checkpoint`` with the metrics of ``label`` in the P-CAVE ``result`` (read from
    ``result_file``), ``ablation``'s beside them (see the module docstring)."""
    checkpoint = Path(checkpoint)
    rows = [row for row in result["rows"] if row["method"] == label]
    scenes = {row["scene"]: row.get("trained_on_scene") for row in rows}
    twins = [method for method in result["meta"]["methods"] if method["label"] == label]
    metrics = mean_metrics(result, label)
    evaluation = {
        **card_head(checkpoint, read_checkpoint(checkpoint), p_cave_protocol(result["meta"])),
        "scenes": [{"name": name, "trained_on": seen} for name, seen in scenes.items()],
        "metrics": metrics,
        "metrics_source": {
            "label": label,
            "result": result_file,
            "command": result.get("command"),
            "machine": result.get("machine"),
            "checkpoints": [twin_description(method) for method in twins if method.get("loo_scene")],
        },
        "reference": versus_reference(metrics),
        "effective_ratios": result["meta"]["effective_ratios"],
    }
    if ablation:
        evaluation["ablation"] = {"label": ablation, "metrics": mean_metrics(result, ablation)}
    return evaluation


def _region(region) -> str:
    """A config's ``region [[row0, row1], [col0, col1]]`` as a slice, ``[:, 240:]``."""
    if not region:
        return "whole images"
    return (
        "[" + ", ".join(f"{a if a is not None else ''}:{b if b is not None else ''}" for a, b in region) + "]"
    )


def holdout_protocol(result: dict, config: dict) -> str:
    """The protocol of a ``fusion bench holdout`` ``result`` on the held-out data of the training
    ``config`` (the checkpoint's), in words."""
    degrade = config.get("degrade") or {}
    data_args = (config.get("data") or {}).get("args") or {}
    val_args = ((config.get("val") or {}).get("data") or {}).get("args") or {}
    command = f"fusion bench holdout {(result.get('config') or {}).get('path', 'CONFIG')}"
    return (
        f"Wald, `{command}` (fusion.bench.holdout): {result['cases']} held-out image(s), files "
        f"{data_args.get('files', 'as training')} region {_region(val_args.get('region'))} (rows, columns), "
        f"the reference degraded at each fixed ratio with the {degrade.get('sensor', 'generic')} MTF (no "
        f"jitter, no noise) and sampled at the {degrade.get('phase', 'centre')} phase, as the run's "
        f"validation; float32, no autocast; PSNR (peak 1 on values / {data_args.get('scale', 1)}), SAM "
        f"(degrees), ERGAS at each case's exact ratio; device {result['device']}"
    )


def best_classical_columns(rows: list[dict], ratios: list[float], projected: bool) -> dict:
    """``{"label", "metrics", "methods"}``: per ratio and metric, the best plain (or back-projected)
    classical row of a holdout result, and which method it is."""
    best = {f"{r:g}": best_classical(rows, r, BP_SUFFIX if projected else "") for r in ratios}
    return {
        "label": "best classical + bp" if projected else "best classical",
        "metrics": {r: {m: pick["value"] for m, pick in picks.items()} for r, picks in best.items()},
        "methods": {r: {m: pick["method"] for m, pick in picks.items()} for r, picks in best.items()},
    }


def evaluation_from_holdout(checkpoint, result: dict, label: str, result_file: str) -> dict:
    """EVAL.json for ``checkpoint`` with the rows of ``label`` in a ``fusion bench holdout`` ``result``
    (read from ``result_file``): the best classical method per metric beside them (and the best
    back-projected one, when scored), and the result's verdicts at ratios 4 and 3.3."""
    checkpoint = Path(checkpoint)
    payload = read_checkpoint(checkpoint)
    config = (payload.get("meta") or {}).get("trained", {}).get("config") or payload.get("config") or {}
    rows = [row for row in result["rows"] if row["method"] == label and row["kind"] == "checkpoint"]
    if not rows:
        raise SystemExit(f"eval_checkpoint: {result_file} has no checkpoint rows of {label!r}")
    ratios = [row["ratio"] for row in rows]
    projected = has_projected_classical(result["rows"])
    files = ((config.get("data") or {}).get("args") or {}).get("files", "the training files")
    split = result.get("split", "val")  # the held-out split the result scored
    region = ((((config.get(split) or {}).get("data") or {}).get("args")) or {}).get("region")
    verdicts = {
        f"{v['ratio']:g}": {key: value for key, value in v.items() if key.startswith("beats")}
        for v in result["verdicts"]
        if v["method"] == label and f"{v['ratio']:g}" in ("4", "3.3")
    }
    return {
        **card_head(checkpoint, payload, holdout_protocol(result, config)),
        "scenes": [{"name": f"{files} {_region(region)}", "trained_on": False}],
        "metrics": {f"{row['ratio']:g}": {m: row[m] for m in ("psnr", "sam", "ergas")} for row in rows},
        "metrics_source": {"label": label, "result": result_file},
        "baselines": [
            best_classical_columns(result["rows"], ratios, p) for p in (False, True)[: 1 + projected]
        ],
        "verdicts": verdicts,
    }


def key_values(pairs: list[str]) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``."""
    if any("=" not in pair for pair in pairs):
        raise SystemExit(f"eval_checkpoint: --train takes KEY=VALUE, got {pairs}")
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, help="folder of the cave_*.npz cubes (to score the checkpoint)")
    parser.add_argument(
        "--from-result", type=Path, help="P-CAVE result JSON to take the metrics from instead"
    )
    parser.add_argument(
        "--from-holdout", type=Path, help="`fusion bench holdout` JSON to take the metrics from instead"
    )
    parser.add_argument(
        "--label", help="with --from-result/--from-holdout: the method whose rows are the metrics"
    )
    parser.add_argument("--ablation", help="with --from-result: a method whose mean rows go beside them")
    parser.add_argument("--scenes", nargs="+", help="cube stems to score [default: every cube]")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(CARD_RATIOS))
    parser.add_argument("--device", help="cpu, cuda [default: cuda when available]")
    parser.add_argument("--train-seconds", type=float, help="training time of the checkpoint")
    parser.add_argument("--train-gpu", help="GPU it was trained on")
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE", help="a train entry")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if (args.from_result or args.from_holdout) and not args.label:
        raise SystemExit("eval_checkpoint: --from-result and --from-holdout need --label")
    if args.from_result:
        result = json.loads(args.from_result.read_text())
        evaluation = evaluation_from_result(
            args.checkpoint, result, args.label, str(args.from_result), args.ablation
        )
    elif args.from_holdout:
        result = json.loads(args.from_holdout.read_text())
        evaluation = evaluation_from_holdout(args.checkpoint, result, args.label, str(args.from_holdout))
    elif args.data:
        evaluation = evaluate_checkpoint(args.checkpoint, args.data, args.scenes, args.ratios, args.device)
    else:
        raise SystemExit(
            "eval_checkpoint: give --data (to score the checkpoint), --from-result or --from-holdout"
        )
    evaluation["train"].update(key_values(args.train))
    if args.train_seconds is not None:
        evaluation["train"]["seconds"] = args.train_seconds
    if args.train_gpu:
        evaluation["train"]["gpu"] = args.train_gpu
    args.out.write_text(json.dumps(evaluation, indent=1) + "\n")
    for ratio, values in evaluation["metrics"].items():
        print(f"x{ratio}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
