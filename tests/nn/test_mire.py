"""MIRE's greedy matching: picks the atom a signal is made of; bookkeeping; a real CAVE band (slow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion.errors import InputError
from fusion.nn import MIRE_ATOMS, MLP, make_activation, make_coord, mire_search


@pytest.mark.parametrize("atom", ["pswf", "raised-cosine", "gabor"])
def test_a_signal_made_of_one_atom_matches_that_atom(atom):
    x = torch.linspace(-8, 8, 200).unsqueeze(1)
    with torch.no_grad():
        y = make_activation(atom)(x)  # the atom itself, at its base parameters
    result = mire_search(x, y, depth=1, width=2, steps=250, lr=1e-2, seed=0)
    losses = {t.atom: t.loss for t in result.trials}
    assert result.sequence[0]["name"] == atom
    runner_up = min(loss for name, loss in losses.items() if name != atom)
    assert losses[atom] < runner_up / 10


def test_search_records_every_trial_and_freezes_chosen_layers():
    torch.manual_seed(0)
    coords = torch.rand(64, 2) * 2 - 1
    values = torch.sin(3 * coords[:, :1]) * coords[:, 1:]
    atoms = ("sine", "gaussian", "sinc")
    result = mire_search(coords, values, depth=2, width=8, atoms=atoms, steps=[5, 3], seed=1)
    assert [(t.layer, t.atom) for t in result.trials] == [(0, a) for a in atoms] + [(1, a) for a in atoms]
    for layer, spec in enumerate(result.sequence):
        chosen = [t for t in result.trials if t.layer == layer and t.atom == spec["name"]][0]
        assert chosen.loss == min(t.loss for t in result.trials if t.layer == layer)
        assert spec["params"] == chosen.params
    assert result.layer_losses() == [min(t.loss for t in result.trials if t.layer == i) for i in range(2)]
    # the matched sequence builds a decoder for any INR
    assert MLP(2, 1, hidden=(8, 8), activations=result.sequence)(coords).shape == (64, 1)


def test_search_is_deterministic_and_checks_inputs():
    coords, values = torch.linspace(-1, 1, 32).unsqueeze(1), torch.linspace(0, 1, 32).unsqueeze(1)
    run = lambda: mire_search(coords, values, depth=1, width=4, atoms=("sine", "gabor"), steps=4)  # noqa: E731
    assert [t.loss for t in run().trials] == [t.loss for t in run().trials]
    with pytest.raises(InputError, match="coords"):
        mire_search(coords, values[:5])
    with pytest.raises(InputError, match="step count"):
        mire_search(coords, values, depth=2, steps=[3])


@pytest.mark.slow
def test_mire_on_a_real_cave_band(shared_data):
    """The greedy search on a 128 x 128 crop of CAVE 'balloons' at 550 nm (band 15)."""
    cube = np.load(shared_data / "hsi" / "cave_balloons.npz")["cube"]
    band = torch.from_numpy(cube[192:320, 192:320, 15].astype(np.float32) / 65535)
    coords, values = make_coord(band.shape), band.reshape(-1, 1)
    trials = []
    result = mire_search(
        coords, values, depth=3, width=64, steps=[100, 100, 200], lr=1e-3, progress=trials.append
    )
    assert len(result.trials) == 3 * len(MIRE_ATOMS) == len(trials)
    losses = result.layer_losses()
    variance = float(values.var())
    print("sequence:", [s["name"] for s in result.sequence], "losses:", losses, "band variance:", variance)
    for layer, _loss in enumerate(losses):
        print(layer, {t.atom: round(t.loss, 6) for t in result.trials if t.layer == layer})
    assert losses[-1] < 0.5 * variance  # the matched INR explains most of the band
