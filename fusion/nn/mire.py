"""MIRE's greedy layer-by-layer matching of activation atoms to a signal (seed 001, §3.3).

Start with one hidden layer; train the INR once per atom of the dictionary for a set number of steps
and keep the atom (with its trained parameters) that reaches the lowest loss; freeze it, add the next
hidden layer, retrain from a fresh start with every atom in the new layer, and so on. Every trial of
a layer starts from the same weight initialisation, so the atoms compete on equal terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from fusion.errors import InputError
from fusion.nn.activations import MIRE_ATOMS
from fusion.nn.mlp import MLP


@dataclass
class MireTrial:
    """One atom tried in one layer: its final MSE and trained parameters."""

    layer: int
    atom: str
    loss: float
    params: dict


@dataclass
class MireResult:
    """The matched activation sequence (specs for :class:`fusion.nn.MLP`) and every trial."""

    sequence: list[dict]
    trials: list[MireTrial] = field(default_factory=list)

    def layer_losses(self) -> list[float]:
        """Loss of the chosen atom in each layer."""
        return [min(t.loss for t in self.trials if t.layer == layer) for layer in range(len(self.sequence))]


def _train_trial(
    coords, values, sequence, atom, width, steps, lr, batch_size, generator_seed, atom_params
) -> tuple[float, dict]:
    """Train an MLP whose last hidden layer uses ``atom``; earlier layers use the frozen ``sequence``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        specs = [*sequence, {"name": atom, "params": dict(atom_params.get(atom, {}))}]
        model = MLP(coords.shape[1], values.shape[1], [width] * len(specs), specs).to(coords)
        for act in model.acts[:-1]:
            act.requires_grad_(False)
        optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        for _ in range(steps):
            if batch_size is None or batch_size >= len(coords):
                x, y = coords, values
            else:
                pick = torch.randint(len(coords), (batch_size,), device=coords.device)
                x, y = coords[pick], values[pick]
            loss = torch.mean((model(x) - y) ** 2)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            final = float(torch.mean((model(coords) - values) ** 2))
    return final, model.acts[-1].spec()["params"]


def mire_search(
    coords: torch.Tensor,
    values: torch.Tensor,
    *,
    depth: int = 3,
    width: int = 64,
    atoms: Sequence[str] = MIRE_ATOMS,
    steps: int | Sequence[int] = 100,
    lr: float = 1e-3,
    batch_size: int | None = None,
    seed: int = 0,
    atom_params: Mapping[str, Mapping[str, float]] | None = None,
    progress: Callable[[MireTrial], None] | None = None,
) -> MireResult:
    """Match one atom per hidden layer to the signal ``values (N, M)`` sampled at ``coords (N, K)``.

    ``steps`` is the number of Adam steps per atom per layer (one number, or one per layer, as MIRE
    trains its third layer longer). ``atom_params`` overrides atoms' initial parameters (their base
    configuration by default). ``progress`` is called after each trial. Returns the chosen sequence
    (activation specs with the trained atom parameters) and the loss of every trial.
    """
    if coords.ndim != 2 or values.ndim != 2 or len(coords) != len(values) or len(coords) == 0:
        raise InputError(
            f"mire_search: expected coords (N, K) and values (N, M) with the same N > 0, got "
            f"{tuple(coords.shape)} and {tuple(values.shape)}"
        )
    steps = [int(steps)] * depth if isinstance(steps, (int, float)) else [int(s) for s in steps]
    if len(steps) != depth or depth < 1 or not atoms:
        raise InputError(
            f"mire_search: need depth >= 1, atoms and one step count per layer; got {steps} for {depth}"
        )
    values = values.to(coords.dtype)
    atom_params = atom_params or {}
    result = MireResult(sequence=[])
    for layer in range(depth):
        best = None
        for atom in atoms:
            loss, params = _train_trial(
                coords,
                values,
                result.sequence,
                atom,
                width,
                steps[layer],
                lr,
                batch_size,
                seed + layer,
                atom_params,
            )
            trial = MireTrial(layer, atom, loss, params)
            result.trials.append(trial)
            if progress is not None:
                progress(trial)
            if best is None or loss < best.loss:
                best = trial
        result.sequence.append({"name": best.atom, "params": best.params})
    return result
