"""``fusion bench``: reproducible quality and speed numbers, their tables, figures and a sample report.

::

    fusion bench quality [--quick] [--markdown docs/benchmarks.md] [--figures docs/figures] [--out-json Q]
    fusion bench quality --protocol p-cave --checkpoint runs/ss-inr/best.pt --markdown docs/benchmarks.md
    fusion bench quality --protocol p-cave --loo WEIGHTS [--fit-loo] [--back-projection 10] --out-json Q
    fusion bench speed --device cuda --out-json speed.json [--markdown docs/benchmarks.md]
    fusion bench speed --device cuda --compile --out-json speed-compiled.json --markdown docs/benchmarks.md
    fusion bench report docs/report-sample

Tables go between generated markers of the Markdown file (reruns replace only their own blocks).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.errors import InputError


def _names(text: str | None) -> list[str] | None:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; ``None`` stays ``None``."""
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _floats(text: str | None, option: str) -> list[float] | None:
    try:
        return None if text is None else [float(part) for part in _names(text)]
    except ValueError:
        raise InputError(f"{option} {text!r}: expected comma-separated numbers, e.g. 2,3.3,4") from None


def _command_line(ctx: click.Context) -> str:
    """The command with the options that differ from their defaults, to regenerate a table."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if not isinstance(param, click.Option) or value in (None, ()) or value == param.get_default(ctx):
            continue
        if param.is_flag:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            words += [w for v in (value if param.multiple else (value,)) for w in (param.opts[0], str(v))]
    return shlex.join(words)


def _write_json(path: str | None, result: dict) -> None:
    if path:
        from fusion.bench.markdown import shared_output

        with shared_output(path) as tmp:
            tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
        click.echo(f"wrote {path}")


def _device(device: str | None):
    from fusion.engine import pick_device

    return pick_device(device or "cpu")


@cli.group("bench")
def bench() -> None:
    """Benchmarks: quality (metrics across data sets and ratios), speed, and a sample HTML report."""


@bench.command("quality")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="Data folder [default: $FUSION_DATA or ../shared/data].",
)
@click.option(
    "--datasets", help="Comma-separated: cave, aviris, houston, wv2, landsat8 [default: all found]."
)
@click.option("--methods", help="Comma-separated classical methods [default: every registered one].")
@click.option("--ratios", help="Comma-separated ratios [default: 2,2.5,3,3.3,4,6,8].")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Trained model (repeatable).",
)
@click.option(
    "--shipped",
    is_flag=True,
    help="Add the shipped trained checkpoints (trained on these data: not held out).",
)
@click.option(
    "--fit", is_flag=True, help="Add a scene-adaptive fit of the default INR fit model (slow on CPU)."
)
@click.option("--fit-model", help="Add a scene-adaptive fit of this INR model.")
@click.option("--fit-steps", type=int, help="Optimisation steps of each fit [default: fit_scene's].")
@click.option("--device", metavar="cpu|cuda[:N]", help="Torch device [default: cpu].")
@click.option("--out-json", type=click.Path(dir_okay=False), help="Write the full result as JSON.")
@click.option(
    "--markdown", type=click.Path(dir_okay=False), help="Markdown file whose generated tables to replace."
)
@click.option("--figures", type=click.Path(file_okay=False), help="Folder for the PNG figures.")
@click.option("--protocol", type=click.Choice(["p-cave", "p-pan"]), help="Run a fixed protocol instead.")
@click.option(
    "--back-projection",
    type=click.IntRange(min=1),
    help="With --protocol p-cave: also score every method back-projected onto its LR input (N steps).",
)
@click.option(
    "--loo",
    type=click.Path(file_okay=False),
    help="With --protocol p-cave: a folder of leave-one-out checkpoints named <model>_train_<scene>.pt "
    "(e.g. ss_inr_prior_train_balloons.pt), each scored on the scene it was not trained on.",
)
@click.option(
    "--fit-loo",
    is_flag=True,
    help="With --loo: also fine-tune each of those checkpoints on its test scene's own inputs "
    "(--fit-steps steps; the reference is never seen).",
)
@click.option(
    "--full-resolution/--no-full-resolution",
    default=True,
    show_default=True,
    help="Also score the real pairs without reference.",
)
@click.option(
    "--quick", is_flag=True, help="Centre crops, ratio 4 and four methods unless given: a smoke run."
)
@click.pass_context
@user_errors
def quality_cmd(
    ctx, data_root, datasets, methods, ratios, checkpoints, shipped, fit, fit_model, fit_steps, device,
    out_json, markdown, figures, protocol, back_projection, loo, fit_loo, full_resolution, quick,
):  # fmt: skip
    """Quality of every method x data set x ratio (reduced resolution) and on the real pairs (full)."""
    from fusion.bench import markdown as md
    from fusion.bench.contenders import default_fit_model

    device = _device(device)
    command = _command_line(ctx)
    if fit and not (fit_model or default_fit_model()):
        raise InputError("--fit: this version has no default fit model; name one with --fit-model")
    for option, given in (("--back-projection", back_projection), ("--loo", loo)):
        if given and protocol is None:
            raise InputError(f"{option}: only with --protocol p-cave")
    if fit_loo and not loo:
        raise InputError("--fit-loo: give the leave-one-out checkpoints with --loo DIR")
    if protocol is not None:
        from fusion.bench.quality import protocol_result
        from fusion.protocols import protocol_module

        extra = {}
        if fit or fit_model:
            extra["fit"] = [fit_model or default_fit_model()]
        if fit or fit_model or fit_loo:
            extra["fit_steps"] = fit_steps
        optional = {"back_projection": back_projection, "loo": loo, "fit_loo": loo if fit_loo else None}
        extra.update({key: value for key, value in optional.items() if value})
        result = protocol_result(
            protocol, data_root, _names(methods), checkpoints, _floats(ratios, "--ratios"), device,
            progress=True, **extra,
        )  # fmt: skip
        result["command"] = command
        verdicts = getattr(protocol_module(protocol), "verdicts", None)
        if verdicts is not None:
            result["verdicts"] = verdicts(result)
        _write_json(out_json, result)
        block = md.protocol_block(result, getattr(protocol_module(protocol), "REFERENCE_NUMBERS", None))
        click.echo(block)
        if markdown:
            md.update_blocks(markdown, {f"protocol-{protocol}": block})
            click.echo(f"updated {markdown}")
        return

    from fusion.bench.datasets import DESCRIPTIONS
    from fusion.bench.quality import DEFAULT_RATIOS, QUICK, run_quality

    contenders = _contenders(_names(methods) or (QUICK["methods"] if quick else None), checkpoints)
    if shipped:
        from fusion.bench.contenders import shipped as shipped_checkpoints

        contenders += shipped_checkpoints()
    if fit or fit_model:
        from fusion.bench.contenders import SceneFit

        contenders.append(
            SceneFit(fit_model or default_fit_model(), **({"steps": fit_steps} if fit_steps else {}))
        )
    chosen_ratios = _floats(ratios, "--ratios") or (QUICK["ratios"] if quick else DEFAULT_RATIOS)
    result, quicklooks = run_quality(
        contenders, data_root, _names(datasets), chosen_ratios, device,
        crop=QUICK["crop"] if quick else None, full_resolution=full_resolution,
        log=lambda message: click.echo(message, err=True),
    )  # fmt: skip
    result["command"] = command
    _write_json(out_json, result)
    blocks = md.quality_blocks(result, DESCRIPTIONS)
    click.echo("\n\n".join(blocks.values()))
    if markdown:
        md.update_blocks(markdown, blocks)
        click.echo(f"updated {markdown}")
    if figures:
        from fusion.bench.figures import write_figures

        written = write_figures(result, quicklooks, figures)
        click.echo(f"wrote {len(written)} figures to {figures}")
    click.echo(f"quality benchmark: {result['seconds']:.0f} s")


def _contenders(methods: list[str] | None, checkpoints) -> list:
    """Classical methods (every registered one by default) and checkpoints."""
    from fusion.bench.contenders import Checkpoint, Classical, classical_methods, is_classical
    from fusion.models import list_models

    methods = classical_methods() if methods is None else methods
    for name in methods:
        if name not in list_models():
            raise InputError(f"--methods {name}: not a registered method (see `fusion models`)")
        if not is_classical(name):
            raise InputError(
                f"--methods {name}: a trainable model; give its --checkpoint or --fit-model {name}"
            )
    return [Classical(name) for name in methods] + [Checkpoint(path) for path in checkpoints]


SPEED_PARTS = ("query", "training", "degradation", "attention", "streaming")
FALLBACK_DEFAULT_MODEL = "ss-inr"
"""The target model when the package names no default fit model: the best trained INR model on CAVE
(docs/benchmarks.md)."""


@bench.command("speed")
@click.option("--device", metavar="cpu|cuda[:N]", help="Torch device [default: cpu].")
@click.option("--models", help="Comma-separated models [default: every INR model and the default method].")
@click.option("--ratios", default="4,3.3", show_default=True, help="Comma-separated ratios.")
@click.option("--bands", default="8,103", show_default=True, help="Comma-separated LR band counts C.")
@click.option("--size", type=int, help="Tile core in output pixels [default: 1024 on CUDA, 128 on CPU].")
@click.option(
    "--dtype", type=click.Choice(["bf16", "fp16", "fp32"]), help="Autocast [default: bf16 on CUDA]."
)
@click.option("--repeats", default=5, show_default=True, help="Timed calls (median) after --warmup.")
@click.option("--warmup", default=2, show_default=True, help="Untimed calls first.")
@click.option("--default-model", help="Model of the 1e9 voxels/s target [default: the default fit model].")
@click.option("--train-models", help="Comma-separated models to time in training [default: --default-model].")
@click.option(
    "--stream-size", type=int, help="PAN size of the streaming run; 0 skips [default: 20000 on CPU, 0]."
)
@click.option(
    "--skip", help="Comma-separated parts not to run: query, training, degradation, attention, streaming."
)
@click.option("--out-json", type=click.Path(dir_okay=False), help="Write the full result as JSON.")
@click.option(
    "--markdown", type=click.Path(dir_okay=False), help="Markdown file whose speed block to replace."
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="torch.compile each INR model's query and the bare MLP it is compared with, and the trained "
    "models (train.compile); the warm-up absorbs compilation. Its own Markdown block (speed-compiled).",
)
@click.pass_context
@user_errors
def speed_cmd(
    ctx, device, models, ratios, bands, size, dtype, repeats, warmup, default_model, train_models,
    stream_size, skip, out_json, markdown, compile_,
):  # fmt: skip
    """Fusion throughput, query stage vs MLP, training samples/s, degradation and streaming memory.

    With --compile the tables go to a block of their own (``speed-compiled``, ``speed-cpu-compiled``
    on a CPU), beside the eager run's.
    """
    from fusion.bench import markdown as md
    from fusion.bench.contenders import default_fit_model
    from fusion.bench.speed import is_inr, run_speed
    from fusion.engine import DEFAULT_METHOD
    from fusion.models import list_models

    device = _device(device)
    cuda = device.type == "cuda"
    skipped = set(_names(skip) or ())
    if skipped - set(SPEED_PARTS):
        raise InputError(f"--skip {skip}: choose from {', '.join(SPEED_PARTS)}")
    chosen = _names(models) or [*(m for m in list_models() if is_inr(m)), DEFAULT_METHOD]
    unknown = [m for m in chosen if m not in list_models()]
    if unknown:
        raise InputError(f"--models {','.join(unknown)}: not registered (see `fusion models`)")
    default_model = default_model or default_fit_model() or FALLBACK_DEFAULT_MODEL
    trained = [] if "training" in skipped else _names(train_models) or [default_model]
    train = (
        {"batch": 16, "patch": 64, "steps": 20, "warmup": 5}
        if cuda
        else {"batch": 2, "patch": 32, "steps": 3, "warmup": 1}
    )
    degradation = {"repeats": 50, "warmup": 10} if cuda else {"repeats": 3, "warmup": 1}
    stream_size = (0 if cuda else 20000) if stream_size is None else stream_size
    stream_size = 0 if "streaming" in skipped else stream_size
    result = run_speed(
        chosen, device, _floats(ratios, "--ratios"), [int(b) for b in _floats(bands, "--bands")],
        size or (1024 if cuda else 128), dtype or ("bf16" if cuda else "fp32"), repeats, warmup,
        trained, train, None if "degradation" in skipped else degradation, "query" not in skipped,
        "attention" not in skipped, stream_size, default_model, compile_,
        log=lambda message: click.echo(message, err=True),
    )  # fmt: skip
    result["command"] = _command_line(ctx)
    _write_json(out_json, result)
    block = md.speed_block(result)
    click.echo(block)
    if markdown:
        key = md.speed_key(result) + ("-compiled" if compile_ else "")
        md.update_blocks(markdown, {key: block})
        click.echo(f"updated {markdown}")


@bench.command("report")
@click.argument("outdir", default="docs/report-sample", type=click.Path(file_okay=False))
@click.option(
    "--methods", default="exp,gsa,mtf-glp-hpm,bdsd-pc", show_default=True, help="Comma-separated methods."
)
@click.option(
    "--crop", default=160, show_default=True, help="Centre crop in MS pixels (keeps the PNGs small)."
)
@user_errors
def report_cmd(outdir, methods, crop):
    """Sample HTML report (`fusion evaluate --report`) of the bundled Landsat-8 pair into OUTDIR.

    Wald's protocol at the pair's ratio (2) on a centre crop, reference convention (reflectance x 10000
    as DN): OUTDIR/report.html with its quicklooks in OUTDIR/report_files/.
    """
    from fusion.bench.datasets import landsat8_sample
    from fusion.metrics import evaluate_reduced
    from fusion.metrics.html import write_html

    scene = landsat8_sample()[0].crop(crop)
    report = evaluate_reduced(
        _names(methods), scene.guide, scene.lr, sensor=scene.sensor, convention="reference", keep_images=True
    )
    Path(outdir).mkdir(parents=True, exist_ok=True)
    name, reference = report.reference_image
    path = write_html(
        report, Path(outdir) / "report.html", report.images, reference=reference, reference_name=name,
        wavelengths_nm=scene.wavelengths_nm, overwrite=True,
    )  # fmt: skip
    click.echo(report.table())
    click.echo(f"wrote {path}")
