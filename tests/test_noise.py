"""Latent priors: spec parsing (variance convention), sample moments, seeding, interpolation, truncation, seeds."""
from __future__ import annotations

import math

import pytest
import torch

from facegen_utils import noise

N, DIM = 2_000, 100  # 200k draws per moment check


def _draw(spec: str, seed: int = 0) -> torch.Tensor:
    return noise.parse(spec).sample(N, DIM, generator=torch.Generator().manual_seed(seed))


def test_report_003_priors_in_report_order() -> None:
    labels = [noise.parse(spec).label for spec in noise.REPORT_003_PRIORS]
    assert labels == ["U(-1, 1)", "N(0, 1)", "Gamma(2, 1)", "N(-1, 1)", "N(1, 1)", "N(0, 0.01)", "N(0, 100)"]


@pytest.mark.parametrize(
    ("spec", "mean", "variance"),
    [
        ("uniform(-1, 1)", 0.0, 1 / 3),
        ("normal(0, 1)", 0.0, 1.0),
        ("gamma(2, 1)", 2.0, 2.0),
        ("normal(-1, 1)", -1.0, 1.0),
        ("normal(1, 1)", 1.0, 1.0),
        ("normal(0, 0.01)", 0.0, 0.01),
        ("normal(0, 100)", 0.0, 100.0),
        ("normal(0, std=0.1)", 0.0, 0.01),
        ("gamma(0.5, 2)", 1.0, 2.0),
        ("uniform(2, 5)", 3.5, 0.75),
    ],
)
def test_samples_have_the_theoretical_moments(spec: str, mean: float, variance: float) -> None:
    prior = noise.parse(spec)
    assert prior.mean == pytest.approx(mean)
    assert prior.variance == pytest.approx(variance)
    z = _draw(spec).double()
    assert z.shape == (N, DIM) and z.dtype == torch.float64
    std = math.sqrt(variance)
    assert z.mean().item() == pytest.approx(mean, abs=6 * std / math.sqrt(z.numel()))
    assert z.var().item() == pytest.approx(variance, rel=0.05)


def test_variance_convention_of_the_report() -> None:
    small, large = noise.parse("normal(0, 0.01)"), noise.parse("normal(0, 100)")
    assert small.std == pytest.approx(0.1) and large.std == pytest.approx(10.0)
    assert _draw("normal(0, 0.01)").std().item() == pytest.approx(0.1, rel=0.01)
    assert _draw("normal(0, 100)").std().item() == pytest.approx(10.0, rel=0.01)
    assert noise.parse("normal(0, std=0.1)") == small
    assert noise.parse("normal(mean=0, variance=100)") == large
    assert noise.parse("normal(0, std=10)") == large


def test_supports() -> None:
    u = _draw("uniform(-1, 1)")
    assert u.min() >= -1 and u.max() < 1
    assert _draw("gamma(2, 1)").min() > 0
    assert _draw("gamma(0.5, 2)").min() >= 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("N(0,1)", noise.Normal(0.0, 1.0)),
        ("  NORMAL ( 0 , 1 ) ", noise.Normal(0.0, 1.0)),
        ("gaussian(0, var=2)", noise.Normal(0.0, 2.0)),
        ("U(-1,1)", noise.Uniform(-1.0, 1.0)),
        ("uniform(low=-1, high=1)", noise.Uniform(-1.0, 1.0)),
        ("Gamma(2,1)", noise.Gamma(2.0, 1.0)),
        ("gamma(k=2, theta=3)", noise.Gamma(2.0, 3.0)),
        ("gamma(2, rate=0.5)", noise.Gamma(2.0, 2.0)),
        ("normal(1e-1, 2.5E1)", noise.Normal(0.1, 25.0)),
    ],
)
def test_aliases_keywords_case_and_spaces(spec: str, expected: noise.Prior) -> None:
    assert noise.parse(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [*noise.REPORT_003_PRIORS, "normal(0, std=0.1)", "normal(0.5, 0.3)", "uniform(-0.25, 3)", "gamma(0.7, 1.3)",
     "gamma(2, rate=3)", "normal(0, std=0.3)"],
)
def test_str_round_trips(spec: str) -> None:
    prior = noise.parse(spec)
    assert noise.parse(str(prior)) == prior
    assert str(noise.parse(str(prior))) == str(prior)
    assert noise.parse(prior.label).label == prior.label


def test_str_is_the_canonical_spec() -> None:
    assert [str(noise.parse(s)) for s in noise.REPORT_003_PRIORS] == noise.REPORT_003_PRIORS
    assert str(noise.parse("N(0, 1)")) == "normal(0, 1)"
    assert str(noise.parse("normal(0, std=0.1)")) == "normal(0, std=0.1)"


def test_parse_passes_a_prior_through() -> None:
    prior = noise.Uniform(-1.0, 1.0)
    assert noise.parse(prior) is prior


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("cauchy(0, 1)", "unknown distribution 'cauchy'"),
        ("normal(0, -1)", "variance=-1.0 must be >= 0"),
        ("normal(0, std=-0.1)", "std=-0.1 must be >= 0"),
        ("uniform(1, -1)", "must be smaller than high"),
        ("uniform(1, 1)", "must be smaller than high"),
        ("gamma(0, 1)", "must both be > 0"),
        ("gamma(2, -1)", "must both be > 0"),
        ("gamma(2, rate=0)", "rate=0.0 must be > 0"),
        ("normal(0)", "expected exactly the parameters"),
        ("normal()", "expected exactly the parameters"),
        ("normal(0, 1, 2)", "takes 2 parameters, got 3"),
        ("normal(0, 1, std=1)", "either the variance or std="),
        ("normal(mean=0, 1)", "positional argument follows a keyword"),
        ("normal(0, mean=1)", "given twice"),
        ("normal(0, sigma=1)", "no parameter 'sigma'"),
        ("normal(0, abc)", "'abc' is not a number"),
        ("normal(0, nan)", "not a finite number"),
        ("normal(0, inf)", "not a finite number"),
        ("normal 0 1", "expected name"),
        ("", "expected name"),
        ("uniform(-1, 1", "expected name"),
    ],
)
def test_bad_specs_raise_a_helpful_value_error(spec: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        noise.parse(spec)
    message = str(info.value)
    assert reason in message
    assert repr(spec) in message
    assert "Accepted forms" in message and "normal(mean, variance)" in message and "uniform(low, high)" in message


def test_non_string_spec() -> None:
    with pytest.raises(ValueError, match="expected a string"):
        noise.parse(1.0)  # type: ignore[arg-type]


def test_direct_construction_validates() -> None:
    with pytest.raises(ValueError, match="variance"):
        noise.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        noise.Uniform(float("-inf"), 1.0)


@pytest.mark.parametrize("spec", ["normal(0, 1)", "uniform(-1, 1)", "gamma(2, 1)", "gamma(0.5, 1)"])
def test_seeded_generator_reproduces_samples(spec: str) -> None:
    prior = noise.parse(spec)
    a = prior.sample(8, 16, generator=torch.Generator().manual_seed(123))
    b = prior.sample(8, 16, generator=torch.Generator().manual_seed(123))
    c = prior.sample(8, 16, generator=torch.Generator().manual_seed(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sample_shape_dtype_and_device() -> None:
    prior = noise.parse("normal(0, 1)")
    assert prior.sample(0, 4).shape == (0, 4)
    z = prior.sample(3, 5, device="cpu", dtype=torch.float16)
    assert z.shape == (3, 5) and z.dtype == torch.float16 and z.device.type == "cpu"
    gen = torch.Generator().manual_seed(0)
    moved = prior.sample(3, 5, generator=gen, device=torch.device("meta"))
    assert moved.device.type == "meta" and moved.dtype == torch.float32
    with pytest.raises(ValueError, match="latent_dim"):
        prior.sample(3, 0)
    with pytest.raises(ValueError, match="non-negative int"):
        prior.sample(-1, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("spec", ["normal(0, 1)", "uniform(-1, 1)", "gamma(2, 1)"])
def test_sampling_on_cuda(spec: str) -> None:
    prior = noise.parse(spec)
    on_gpu = prior.sample(4, 8, generator=torch.Generator(device="cuda").manual_seed(0))
    assert on_gpu.device.type == "cuda"
    cpu_gen = prior.sample(4, 8, generator=torch.Generator().manual_seed(0), device="cuda")
    assert torch.equal(cpu_gen.cpu(), prior.sample(4, 8, generator=torch.Generator().manual_seed(0)))


def test_lerp_endpoints_and_batched_t() -> None:
    z0, z1 = torch.randn(6), torch.randn(6)
    assert torch.allclose(noise.lerp(z0, z1, 0.0), z0[None])
    assert torch.allclose(noise.lerp(z0, z1, 1.0), z1[None])
    path = noise.lerp(z0[None], z1[None], torch.linspace(0, 1, 5))
    assert path.shape == (5, 6)
    assert torch.allclose(path[2], (z0 + z1) / 2)
    rows = noise.lerp(torch.zeros(3, 2), torch.ones(3, 2), torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(rows, torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]))


def test_slerp_endpoints_norms_and_known_midpoint() -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(1, 64, generator=g), torch.randn(1, 64, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    path = noise.slerp(z0, z1, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], z0[0], atol=1e-5) and torch.allclose(path[-1], z1[0], atol=1e-5)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(9), rtol=1e-5)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(noise.slerp(e1, e2, 0.5), torch.tensor([[1.0, 1.0]]) / math.sqrt(2))


def test_slerp_degenerate_cases_fall_back_to_lerp() -> None:
    z = torch.tensor([[1.0, 2.0, 3.0]])
    t = torch.linspace(0, 1, 4)
    for other in (2 * z, -z, torch.zeros_like(z)):
        out = noise.slerp(z, other, t)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, noise.lerp(z, other, t))


def test_interpolation_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        noise.lerp(torch.zeros(3), torch.zeros(4), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        noise.slerp(torch.zeros(3), torch.ones(3), torch.zeros(2, 2))


@pytest.mark.parametrize(
    ("spec", "threshold"),
    [("normal(0, 1)", 0.5), ("normal(1, 100)", 1.0), ("uniform(-1, 1)", 1.2), ("gamma(2, 1)", 0.8)],
)
def test_truncate_bounds_and_keeps_inside_components(spec: str, threshold: float) -> None:
    prior = noise.parse(spec)
    z = prior.sample(64, 32, generator=torch.Generator().manual_seed(0))
    before = z.clone()
    out = noise.truncate(z, threshold, prior, generator=torch.Generator().manual_seed(1))
    assert torch.equal(z, before)
    assert ((out - prior.mean).abs() <= threshold * prior.std + 1e-6).all()
    inside = (z - prior.mean).abs() <= threshold * prior.std
    assert torch.equal(out[inside], z[inside])
    again = noise.truncate(z, threshold, spec, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_truncate_redraws_rather_than_clamps() -> None:
    z = torch.full((4, 50), 5.0)
    out = noise.truncate(z, 1.0, generator=torch.Generator().manual_seed(0))
    assert out.abs().max() <= 1.0
    assert out.unique().numel() > 100  # redrawn values, not a pile at the boundary


def test_truncate_clamps_after_max_rounds_and_validates() -> None:
    z = torch.full((2, 3), 5.0)
    out = noise.truncate(z, 0.5, "normal(0, 1)", max_rounds=0)
    assert torch.equal(out, torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="threshold"):
        noise.truncate(z, 0.0)


def test_latent_from_seed_is_stable() -> None:
    a = noise.latent_from_seed(42, 100)
    b = noise.latent_from_seed(42, 100)
    assert a.shape == (1, 100) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, noise.latent_from_seed(43, 100))
    assert torch.equal(a, noise.parse("normal(0, 1)").sample(1, 100, generator=torch.Generator().manual_seed(42)))
    u = noise.latent_from_seed(7, 50, "uniform(-1, 1)")
    assert u.min() >= -1 and u.max() < 1
    assert noise.latent_from_seed(7, 8, device="meta").device.type == "meta"
    for bad in (-1, 2 ** 64, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            noise.latent_from_seed(bad, 4)  # type: ignore[arg-type]


def test_fixed_grid_is_reproducible() -> None:
    grid = noise.fixed_grid(16, 100, "normal(0, 1)", seed=3)
    assert grid.shape == (16, 100)
    assert torch.equal(grid, noise.fixed_grid(16, 100, "normal(0, 1)", seed=3))
    assert not torch.equal(grid, noise.fixed_grid(16, 100, "normal(0, 1)", seed=4))
    assert noise.fixed_grid(4, 10, noise.parse("gamma(2, 1)"), seed=0).min() > 0
