"""What a benchmark ran on: CPU model, GPU name, versions and date, for the heading of every table."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

from fusion import __version__


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_name(device: torch.device | str | None) -> str | None:
    """The CUDA device's name, or ``None`` for another device."""
    device = torch.device(device) if device is not None else None
    if device is None or device.type != "cuda":
        return None
    return torch.cuda.get_device_name(device)


def describe_machine(device: torch.device | str | None = None) -> dict:
    """CPU, core and thread counts, memory, GPU (for a CUDA ``device``), versions and today's date."""
    memory = (
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else None
    )
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(memory, 1) if memory else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": gpu_name(device),
        "device": str(device) if device is not None else "cpu",
        "fusion": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def heading(machine: dict, convention: str | None = None) -> str:
    """One line naming the machine, the fusion version, the metric convention and the date."""
    where = machine["gpu"] or f"CPU {machine['cpu']}, {machine['torch_threads']} torch thread(s)"
    parts = [f"Machine: {where}", f"fusion {machine['fusion']}", f"torch {machine['torch']}"]
    if convention is not None:
        parts.append(f"metric convention: {convention}")
    parts.append(machine["date"])
    return "; ".join(parts) + "."
