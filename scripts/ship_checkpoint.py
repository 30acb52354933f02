"""Turn a training checkpoint into a shipped one and list it in its folder's ``index.json``.

    python scripts/ship_checkpoint.py runs/liif_cave/best.pt fusion/weights/liif-cave.pt --task CAVE \\
        [--card-json liif-cave-eval.json] [--limit-mb 25] [--back-projection 10 [--bp-gnyq 0.3] \\
        [--bp-phase centre]]

The shipped file keeps the model spec, the inference weights (``state_dict``: the EMA weights of a
trainer checkpoint) with every floating-point tensor in fp16, and the metadata (band counts and centres,
``data_scale``, sensor, guide response) plus ``task`` and ``trained``: step, validation metrics and
resolved config of the run, the source file's name and SHA-256, and the ``train``/``protocol``/
``metrics`` of ``--card-json`` (the EVAL.json of ``scripts/model_card.py``). Optimiser and training
state are dropped. The model loads fp16 weights back into float32 (``load_state_dict`` casts). The
index entry's band centres are the metadata's, or its sensor preset's where the metadata has none
(:func:`band_centres`).

``--back-projection N`` ships the model wrapped in :class:`fusion.models.consistency.BackProjected`
(``N`` steps onto the LR input with MTF gain ``--bp-gnyq`` and LR sample phase ``--bp-phase``; default
protocol P-CAVE's, :data:`fusion.protocols.p_cave.BACK_PROJECTION`): the spec records it, so
``load_checkpoint`` and ``fusion fuse --method NAME`` apply it. The weights are the same.

Nothing is written unless (1) the fp16 model's output on a random input stays within
:data:`FP16_TOLERANCE` (relative to the largest output value) of the source model's, and (2) the
folder -- every file in it, this checkpoint and the new index included -- stays under ``--limit-mb`` (default
:data:`fusion.engine.zoo.SIZE_LIMIT`, the package's 25 MB budget). ``DST``'s folder is the weights
folder whose index is updated (``fusion/weights`` for the package); an entry for the same file name
is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from fusion.atomic import atomic_output
from fusion.degrade.sensors import get_sensor
from fusion.engine.checkpoint import file_hash, load_checkpoint, read_checkpoint
from fusion.engine.zoo import INDEX_NAME, SIZE_LIMIT, Entry, folder_size, index_text, megabytes, read_index
from fusion.errors import FusionError, InputError, OutputError
from fusion.models import FusionModel, create_model
from fusion.protocols.p_cave import BACK_PROJECTION

#: Largest relative difference between the fp16 and the fp32 model's outputs.
FP16_TOLERANCE = 1e-3
#: Low-resolution size and ratio of the random input of the fp16 check.
CHECK_LR_SIZE, CHECK_RATIO = (12, 12), 4
#: Training-run entries dropped from a shipped checkpoint.
TRAINING_KEYS = ("train_state", "optimizer", "config", "step", "val")


def half_precision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with its floating-point tensors in fp16 (integer buffers unchanged)."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def shippable(payload: dict[str, Any], task: str, source: Path, evaluation: dict | None = None) -> dict:
    """The shipped payload of a training ``payload`` (see the module docstring)."""
    trained = {
        "step": payload.get("step"),
        "val": payload.get("val"),
        "config": payload.get("config"),
        "source": source.name,
        "source_sha256": file_hash(source, length=64),
    }
    if evaluation:
        trained.update({k: evaluation[k] for k in ("train", "protocol", "metrics") if k in evaluation})
    kept = {k: v for k, v in payload.items() if k not in TRAINING_KEYS}
    return {
        **kept,
        "state_dict": half_precision(payload["state_dict"]),
        "meta": {**payload.get("meta", {}), "task": task, "trained": trained},
    }


def back_projected(
    model: FusionModel, payload: dict[str, Any], projection: dict[str, Any]
) -> tuple[FusionModel, dict[str, Any]]:
    """``model`` (rebuilt from ``payload``) wrapped in back-projection with ``projection``
    (:func:`fusion.models.consistency.back_projection_args`), and ``payload`` with the wrapper's spec
    and state (the same weights under the wrapper's names)."""
    spec = payload["model"]
    args = dict(spec.get("args") or {})
    if args.get("back_projection"):
        raise InputError(f"the checkpoint is already back-projected ({args['back_projection']})")
    wrapped = create_model(spec["name"], **args, back_projection=projection)
    wrapped.model.load_state_dict(model.state_dict())
    return wrapped, {**payload, "model": wrapped.spec, "state_dict": wrapped.state_dict()}


@torch.no_grad()
def relative_difference(reference: FusionModel, other: FusionModel, seed: int = 0) -> float:
    """``max |other - reference| / max |reference|`` of the two models' outputs on one random input
    ``lr (1, C, 12, 12)``, ``guide (1, G, 48, 48)`` with values in [0.2, 1.2)."""
    generator = torch.Generator().manual_seed(seed)
    size = tuple(n * CHECK_RATIO for n in CHECK_LR_SIZE)
    lr = 0.2 + torch.rand(1, reference.lr_bands, *CHECK_LR_SIZE, generator=generator)
    guide = 0.2 + torch.rand(1, reference.guide_bands, *size, generator=generator)
    expected = reference.eval()(lr, guide)
    found = other.eval()(lr, guide)
    return float((found - expected).abs().max() / expected.abs().max())


def band_centres(meta: dict, lr_bands: int) -> tuple[float, ...] | None:
    """The LR band centres (nm) of a checkpoint: its ``meta["band_centres_nm"]``, else those of its
    ``meta["sensor"]`` preset when that has ``lr_bands`` bands, else ``None`` (counts alone decide)."""
    centres = meta.get("band_centres_nm")
    if centres is None and meta.get("sensor"):
        preset = get_sensor(meta["sensor"]).wavelengths_nm
        centres = preset if len(preset) == lr_bands else None
    return None if centres is None else tuple(float(c) for c in centres)


def index_entry(payload: dict, path: Path) -> Entry:
    """The index entry of the shipped checkpoint ``payload`` written at ``path``."""
    meta, args = payload["meta"], payload["model"].get("args", {})
    lr_bands, guide_bands = meta.get("lr_bands", args.get("lr_bands")), meta.get("guide_bands")
    guide_bands = guide_bands or args.get("guide_bands")
    if lr_bands is None or guide_bands is None:
        raise InputError(f"{path}: the checkpoint records no band counts (meta lr_bands / guide_bands)")
    response = meta.get("guide_response")
    return Entry(
        model=payload["model"]["name"],
        file=path.name,
        task=meta["task"],
        lr_bands=int(lr_bands),
        guide_bands=int(guide_bands),
        band_centres_nm=band_centres(meta, int(lr_bands)),
        guide_kind="pan" if int(guide_bands) == 1 else "msi",
        guide_response=response.get("sensor") if isinstance(response, dict) else response,
        data_scale=float(meta.get("data_scale", 1.0)),
        sha256=file_hash(path, length=64),
        size=path.stat().st_size,
        folder=path.parent,
    )


def ship(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    task: str | None = None,
    evaluation: dict | None = None,
    limit: int = SIZE_LIMIT,
    back_projection: dict[str, Any] | None = None,
) -> tuple[Entry, float]:
    """Write the shipped version of ``source`` at ``destination`` and list it in the folder's index;
    ``back_projection``: wrap the model in it (:func:`back_projected`).

    Returns the index entry and the fp16 check's relative difference. Raises :class:`InputError` when
    the fp16 weights change the output by more than :data:`FP16_TOLERANCE`, :class:`OutputError` when
    the folder would exceed ``limit`` bytes; nothing is written then.
    """
    source, destination = Path(source), Path(destination)
    folder = destination.parent
    payload = read_checkpoint(source)
    reference, _ = load_checkpoint(source)
    if back_projection:
        reference, payload = back_projected(reference, payload, back_projection)
    task = task or (payload.get("config") or {}).get("data", {}).get("name") or "unknown"
    shipped = shippable(payload, task, source, evaluation)
    others = [e for e in read_index(folder) if e.file != destination.name]
    with atomic_output(destination, overwrite=True) as tmp:
        torch.save(shipped, tmp)
        restored, _ = load_checkpoint(tmp)
        difference = relative_difference(reference, restored)
        if not difference < FP16_TOLERANCE:
            raise InputError(
                f"{source}: fp16 weights change the output by {difference:.2e} (relative), over "
                f"{FP16_TOLERANCE:g}; not shipped"
            )
        entry = replace(index_entry(shipped, tmp), file=destination.name)
        text = index_text([*others, entry])
        total = folder_size(folder, skip={destination.name, INDEX_NAME}) + entry.size + len(text)
        if total > limit:
            raise OutputError(
                f"{folder}: shipping {destination.name} ({megabytes(entry.size)}) would make the weights "
                f"folder {megabytes(total)}, over the {megabytes(limit)} limit; ship a smaller model or "
                "remove a checkpoint from the folder and its index"
            )
    with atomic_output(folder / INDEX_NAME, overwrite=True) as tmp:
        tmp.write_text(text)
    return entry, difference


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="training checkpoint (best.pt, last.pt)")
    parser.add_argument("destination", type=Path, help="shipped file, e.g. fusion/weights/liif-cave.pt")
    parser.add_argument("--task", help="short name of the data/task, e.g. CAVE [default: the config's data]")
    parser.add_argument("--card-json", type=Path, help="EVAL.json of the checkpoint (scripts/model_card.py)")
    parser.add_argument("--limit-mb", type=float, default=SIZE_LIMIT / 1e6, help="folder size limit (MB)")
    parser.add_argument("--back-projection", type=int, metavar="N", help="ship with N back-projection steps")
    parser.add_argument("--bp-gnyq", type=float, default=BACK_PROJECTION["gnyq"], help="its LR MTF gain")
    parser.add_argument("--bp-phase", default=BACK_PROJECTION["phase"], help="its LR sample phase")
    args = parser.parse_args(argv)
    evaluation = json.loads(args.card_json.read_text()) if args.card_json else None
    limit = int(args.limit_mb * 1e6)
    projection = (
        {"iterations": args.back_projection, "gnyq": args.bp_gnyq, "phase": args.bp_phase}
        if args.back_projection
        else None
    )
    try:
        entry, difference = ship(args.source, args.destination, args.task, evaluation, limit, projection)
    except FusionError as exc:
        raise SystemExit(f"ship_checkpoint: {exc}") from None
    projected = (
        f", back-projection {args.back_projection} steps (GNyq {args.bp_gnyq:g}, phase {args.bp_phase})"
        if projection
        else ""
    )
    print(
        f"{entry.path}: {entry.model} {entry.layout()}{projected}, {megabytes(entry.size)}, fp16 relative "
        f"difference {difference:.2e}; listed in {entry.folder / INDEX_NAME}"
    )


if __name__ == "__main__":
    main()
