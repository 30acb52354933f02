"""Running models: streaming GeoTIFF inference (:mod:`fusion.engine.inference`, ``fusion.fuse``) and
self-describing checkpoints (:mod:`fusion.engine.checkpoint`).

Submodules are imported explicitly, so that importing one (a checkpoint on a training machine) does
not pull in another's dependencies (GDAL for GeoTIFF inference).
"""

DEFAULT_METHOD = "mtf-glp-hpm"  # what `fusion fuse` and `fusion demo` use unless told otherwise


def pick_device(device=None, local_rank: int = 0):
    """The torch device to run on: ``device`` as given (``"cuda"`` without an index becomes
    ``cuda:local_rank``, this process's GPU under torchrun), else CUDA when available, else the CPU.
    Asking for CUDA where there is none is an :class:`~fusion.errors.InputError`."""
    import torch

    from fusion.errors import InputError

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
