"""``fusion models``: list every registered method and model, optionally with its size and cost."""

from __future__ import annotations

import click

from fusion.cli import cli
from fusion.cli._common import user_errors
from fusion.errors import FusionError

#: Band counts, ratio and low-resolution size at which ``--details`` measures each model.
DETAIL_BANDS = (31, 103)
DETAIL_RATIO = 4
DETAIL_LR_SIZE = (16, 16)
#: Guide band count per guide kind (a model that takes a PAN is measured with one).
DETAIL_GUIDE_BANDS = {"pan": 1, "msi": 3}


def _summary(cls) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def model_cost(
    name: str,
    lr_bands: int,
    guide_bands: int,
    ratio: int = DETAIL_RATIO,
    lr_size: tuple[int, int] = DETAIL_LR_SIZE,
) -> tuple[int, float]:
    """``(parameters, FLOPs per output pixel)`` of model ``name`` with its default arguments.

    FLOPs are those :class:`torch.utils.flop_counter.FlopCounterMode` counts (matrix products and
    convolutions, 2 per multiply-add; element-wise work is not counted) in one forward pass on random
    inputs ``lr (1, C, h, w)`` and ``guide (1, G, h * ratio, w * ratio)``, divided by the output pixels.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fusion.models import create_model

    model = create_model(name, lr_bands=lr_bands, guide_bands=guide_bands).eval()
    params = sum(p.numel() for p in model.parameters())
    out_size = (lr_size[0] * ratio, lr_size[1] * ratio)
    generator = torch.Generator().manual_seed(0)
    lr = 0.2 + torch.rand(1, lr_bands, *lr_size, generator=generator)
    guide = 0.2 + torch.rand(1, guide_bands, *out_size, generator=generator)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(lr, guide)
    return params, counter.get_total_flops() / (out_size[0] * out_size[1])


def _human(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _details(name: str, guide_kinds) -> list[str]:
    """Cells ``params, FLOPs/px`` per band count of :data:`DETAIL_BANDS`, or the reason they are missing."""
    guide_bands = DETAIL_GUIDE_BANDS["pan" if "pan" in guide_kinds else "msi"]
    cells = []
    for bands in DETAIL_BANDS:
        try:
            params, flops = model_cost(name, bands, guide_bands)
        except (FusionError, TypeError, ValueError) as exc:
            cells += ["n/a", f"n/a ({type(exc).__name__})"]
            continue
        cells += [_human(params), _human(flops)]
    return [f"G={guide_bands}", *cells]


@cli.command("models")
@click.argument("pattern", default="*")
@click.option(
    "--details",
    is_flag=True,
    help=f"Also print parameters and FLOPs per output pixel at ratio {DETAIL_RATIO} for "
    f"C = {' and '.join(map(str, DETAIL_BANDS))} (default arguments; G = 1 if the model takes a PAN, "
    "else 3).",
)
@user_errors
def models_cmd(pattern: str, details: bool) -> None:
    """List registered methods and models (optionally matching PATTERN, e.g. 'mtf-*')."""
    from fusion.models import list_models
    from fusion.registry import MODELS

    names = list_models(pattern)
    width = max((len(n) for n in names), default=0)
    if not details:
        for name in names:
            click.echo(f"{name:<{width}}  {_summary(MODELS.get(name))}")
        return
    header = ["guide"] + [f"{what} C={c}" for c in DETAIL_BANDS for what in ("params", "FLOPs/px")]
    rows = [[name, *_details(name, MODELS.get(name).guide_kinds)] for name in names]
    widths = [max(len(row[i]) for row in [["model", *header], *rows]) for i in range(len(header) + 1)]
    for row in [["model", *header], *rows]:
        cells = zip(row, widths, strict=True)
        click.echo("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    click.echo(f"FLOPs: matrix products and convolutions at ratio {DETAIL_RATIO} on a "
               f"{DETAIL_LR_SIZE[0]}x{DETAIL_LR_SIZE[1]} low-resolution input, per output pixel.")
    from fusion.engine.zoo import shipped_checkpoints

    shipped = [f"{e.model} {e.layout()}" for e in shipped_checkpoints() if e.model in names]
    click.echo(f"Trained weights shipped (LR + guide bands; `fusion fuse --method NAME` uses them where they "
               f"fit): {'; '.join(shipped) or 'none'}.")
