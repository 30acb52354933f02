"""Activation atoms against closed forms and independent numerics; the per-layer MLP."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from fusion.errors import InputError
from fusion.nn import MIRE_ATOMS, MLP, activation_names, make_activation

X = np.array([-3.7, -1.2, -0.3, 0.0, 0.05, 0.6, 1.0, 2.5, 7.9])


def values(name: str, x=X, **params) -> np.ndarray:
    act = make_activation(name, **params).double()
    with torch.no_grad():
        return act(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()


def test_sine_gaussian_gabor_sinc_closed_forms():
    assert np.allclose(values("sine", omega=2.5, phase=0.4), np.sin(2.5 * X + 0.4))
    assert np.allclose(values("gaussian", scale=1.7), np.exp(-((1.7 * X) ** 2)))
    assert np.allclose(values("gabor", omega=3.0, scale=0.8), np.cos(3.0 * X) * np.exp(-((0.8 * X) ** 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(X == 0, 1.0, np.sin(2.2 * X) / (2.2 * X))
    assert np.allclose(values("sinc", omega=2.2), sinc)


def raised_cosine_spectrum(f, beta, root=False):
    """Unit-DC raised-cosine frequency response at |f| for symbol period 1 (its square root if ``root``)."""
    f = abs(f)
    edge = (1 - beta) / 2
    if f <= edge:
        h = 1.0
    elif f <= (1 + beta) / 2:
        h = 0.5 * (1 + math.cos(math.pi / beta * (f - edge)))
    else:
        h = 0.0
    return math.sqrt(h) if root else h


def pulse_by_fourier(t, beta, root=False):
    """Inverse Fourier transform of the spectrum by quadrature: an independent definition of the pulse."""
    edge, end = (1 - beta) / 2, (1 + beta) / 2
    integrand = lambda f: raised_cosine_spectrum(f, beta, root) * math.cos(2 * math.pi * f * t)  # noqa: E731
    return 2 * sum(
        integrate.quad(integrand, a, b, epsabs=1e-12, limit=200)[0] for a, b in ((0, edge), (edge, end))
    )


@pytest.mark.parametrize("root", [False, True])
@pytest.mark.parametrize("beta, omega", [(0.5, 1.0), (0.25, 2.0), (0.9, 0.7)])
def test_raised_cosines_are_the_inverse_fourier_transform_of_their_spectra(root, beta, omega):
    name = "root-raised-cosine" if root else "raised-cosine"
    # include the removable singularities |u| = 1 / (2 beta) (RC) and 1 / (4 beta) (RRC)
    x = np.concatenate([X, [1 / (2 * beta * omega), -1 / (4 * beta * omega), 1 / (4 * beta * omega) + 1e-3]])
    expected = [pulse_by_fourier(omega * t, beta, root) for t in x]
    assert np.allclose(values(name, x, omega=omega, rolloff=beta), expected, atol=2e-7)


def test_pswf_matches_scipy_prolate_functions_inside_the_interval():
    x = np.linspace(-0.999, 0.999, 57)
    for c, scale in ((4.0, 1.0), (2.0, 0.5)):
        ref = special.pro_ang1(0, 0, c, x * scale)[0]
        assert np.abs(values("pswf", x, c=c, scale=scale) - ref).max() < 1e-5


def test_pswf_outside_the_interval_solves_its_integral_equation():
    """lambda psi(t) = int_{-1}^{1} sin(c (t - s)) / (pi (t - s)) psi(s) ds, evaluated with scipy quad."""
    c = 4.0
    psi = lambda s: special.pro_ang1(0, 0, c, s)[0]  # noqa: E731

    def integral(t):
        kernel = lambda s: c / math.pi * np.sinc(c * (t - s) / math.pi) * psi(s)  # noqa: E731
        return integrate.quad(kernel, -1, 1, epsabs=1e-12)[0]

    eigenvalue = integral(0.3) / psi(0.3)
    t = np.array([1.0, 1.3, 2.2, -3.1, 6.4, 15.5])
    expected = [integral(v) / eigenvalue for v in t]
    assert np.abs(values("pswf", t, c=c) - expected).max() < 1e-5
    assert values("pswf", [16.5, -40.0], c=c).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("name", MIRE_ATOMS)
def test_atoms_have_finite_gradients_everywhere_including_singular_points(name):
    act = make_activation(name)
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0], requires_grad=True)
    out = act(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    for key, param in act.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad), key


@pytest.mark.parametrize("name", MIRE_ATOMS)
def test_atoms_gradcheck_float64(name):
    act = make_activation(name).double()
    x = torch.tensor([-1.3, -0.2, 0.35, 0.8, 2.1], dtype=torch.float64, requires_grad=True)
    params = [p for p in act.parameters()]
    assert torch.autograd.gradcheck(lambda x, *p: act(x), (x, *params))


def test_specs_round_trip_and_freeze():
    act = make_activation({"name": "gabor", "params": {"omega": 2.0}}, scale=0.5)
    assert act.spec() == {"name": "gabor", "params": {"omega": 2.0, "scale": 0.5}}
    rebuilt = make_activation(act.spec())
    x = torch.linspace(-2, 2, 9)
    assert torch.equal(rebuilt(x), act(x))
    frozen = make_activation("sinc", trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert make_activation("pswf", c=3.0).spec()["params"] == {"scale": 1.0, "c": 3.0}


def test_plain_activations_and_errors():
    x = torch.tensor([-2.0, 0.5])
    assert make_activation("leaky-relu", negative_slope=0.1)(x).tolist() == pytest.approx([-0.2, 0.5])
    assert make_activation("identity")(x).tolist() == [-2.0, 0.5]
    assert set(MIRE_ATOMS) <= set(activation_names())
    with pytest.raises(InputError, match="unknown activation 'swish'"):
        make_activation("swish")
    with pytest.raises(InputError, match="no parameter"):
        make_activation("sine", beta=2.0)
    with pytest.raises(InputError, match="activation spec"):
        make_activation(3)


def test_mlp_applies_one_activation_per_layer():
    torch.manual_seed(0)
    mlp = MLP(2, 3, hidden=(4, 5), activations=["sinc", {"name": "sine", "params": {"omega": 2.0}}]).double()
    x = torch.randn(6, 2, dtype=torch.float64)
    a, b, c = mlp.linears
    h1 = torch.sinc(a(x) / math.pi)
    h2 = torch.sin(2.0 * b(h1))
    assert torch.allclose(mlp(x), c(h2))
    assert mlp(torch.randn(2, 3, 2, dtype=torch.float64)).shape == (2, 3, 3)
    with pytest.raises(InputError, match="2 activation specs for 3 hidden"):
        MLP(2, 3, hidden=(4, 4, 4), activations=["relu", "relu"])
    with pytest.raises(InputError, match=r"expected inputs \(\.\.\., 2\)"):
        mlp(torch.randn(4, 3, dtype=torch.float64))
