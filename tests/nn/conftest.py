"""Checks shared by the fusion.nn tests: gradient reach and per-sample independence."""

from __future__ import annotations

import pytest
import torch


def _grads_reach(module: torch.nn.Module, output: torch.Tensor) -> None:
    """Every trainable parameter of ``module`` gets a finite, non-zero gradient from ``output``."""
    module.zero_grad(set_to_none=True)
    (output.float() ** 2).mean().backward()
    for name, param in module.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"no gradient reaches {name}"
            assert torch.isfinite(param.grad).all(), f"non-finite gradient for {name}"
            assert param.grad.abs().sum() > 0, f"zero gradient for {name}"


def _independent(run, *batched: torch.Tensor) -> None:
    """Changing sample 1 of every batched input leaves sample 0 of ``run(*batched)`` unchanged."""
    first = run(*batched)
    changed = [t.clone() for t in batched]
    for t in changed:
        t[1:] = torch.randn_like(t[1:]) if t.is_floating_point() else t[1:]
    second = run(*changed)
    assert torch.equal(first[0], second[0]) or torch.allclose(first[0], second[0], atol=1e-6, rtol=0)
    assert not torch.allclose(first[1], second[1])


@pytest.fixture
def grads_reach():
    return _grads_reach


@pytest.fixture
def independent():
    return _independent


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs many tiny ops: one intra-op thread (the shared ``one_thread`` fixture)."""
