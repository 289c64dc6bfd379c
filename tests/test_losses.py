"""Loss values on hand-made inputs, the gradient penalty against analytic critics, clipping and the VAE terms."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from facegen_utils import losses


def _np_bce(logits: np.ndarray, target: float) -> float:
    p = 1.0 / (1.0 + np.exp(-logits))
    return float(np.mean(-(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))))


REAL = torch.tensor([2.0, -1.0, 0.5, 3.0])
FAKE = torch.tensor([-2.0, 0.3, -0.7, 1.5])


@pytest.mark.parametrize(("real_label", "fake_label"), [(1.0, 0.0), (0.9, 0.0), (0.8, 0.1)])
def test_bce_d_loss_matches_formula(real_label: float, fake_label: float) -> None:
    expected = _np_bce(REAL.numpy(), real_label) + _np_bce(FAKE.numpy(), fake_label)
    got = losses.bce_d_loss(REAL, FAKE, real_label=real_label, fake_label=fake_label)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_changes_the_loss_and_its_minimiser() -> None:
    plain = losses.bce_d_loss(REAL, FAKE)
    smoothed = losses.bce_d_loss(REAL, FAKE, real_label=0.8, fake_label=0.1)
    assert plain.item() != pytest.approx(smoothed.item())
    # With a smoothed target y the loss is minimised at sigmoid(logit) = y.
    logit = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([logit], lr=2.0)
    for _ in range(300):
        opt.zero_grad()
        losses.bce_g_loss(logit, real_label=0.8).backward()
        opt.step()
    assert torch.sigmoid(logit).item() == pytest.approx(0.8, abs=1e-3)


def test_bce_accepts_column_logits_and_is_stable_for_huge_logits() -> None:
    assert losses.bce_d_loss(REAL[:, None], FAKE[:, None]).item() == pytest.approx(losses.bce_d_loss(REAL, FAKE).item())
    huge = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.bce_d_loss(huge, -huge))
    assert losses.bce_g_loss(torch.tensor([-1e4])).item() == pytest.approx(1e4)


def test_bce_g_loss_is_non_saturating() -> None:
    assert losses.bce_g_loss(FAKE).item() == pytest.approx(_np_bce(FAKE.numpy(), 1.0), rel=1e-5)
    fake = torch.tensor([-8.0], requires_grad=True)
    losses.bce_g_loss(fake).backward()
    assert fake.grad.item() == pytest.approx(-1.0, abs=1e-3)  # -log D(G(z)) keeps a strong gradient


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="real_label"):
        losses.bce_d_loss(REAL, FAKE, real_label=1.2)
    with pytest.raises(ValueError, match="fake_label"):
        losses.bce_d_loss(REAL, FAKE, fake_label=-0.1)


def test_d_accuracy_on_known_logits() -> None:
    # real correct: 2, 0.5, 3 (3 of 4); fake correct: -2, -0.7 (2 of 4); logit 0 counts as "fake".
    assert losses.d_accuracy(REAL, FAKE).item() == pytest.approx(5 / 8)
    assert losses.d_accuracy(torch.zeros(2), torch.zeros(2)).item() == pytest.approx(0.5)
    assert not losses.d_accuracy(REAL.clone().requires_grad_(), FAKE).requires_grad


def test_wgan_losses() -> None:
    real = torch.tensor([1.0, 2.0, 3.0])
    fake = torch.tensor([[-1.0], [0.0], [4.0]])
    assert losses.wgan_d_loss(real, fake).item() == pytest.approx(1.0 - 2.0)
    assert losses.wgan_g_loss(fake).item() == pytest.approx(-1.0)


class LinearCritic(nn.Module):
    """D(x) = <w, x> over all non-batch dimensions: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("shape", [(3, 4, 4), (12,)])
@pytest.mark.parametrize(("norm", "expected"), [(1.0, 0.0), (3.0, 4.0)])
def test_gradient_penalty_linear_critic_is_exact(shape: tuple[int, ...], norm: float, expected: float) -> None:
    torch.manual_seed(0)
    w = torch.randn(shape)
    w = w / w.norm() * norm
    real, fake = torch.randn(5, *shape), torch.randn(5, *shape)
    gp = losses.gradient_penalty(LinearCritic(w), real, fake)
    assert gp.item() == pytest.approx(expected, abs=1e-5)
    weighted = losses.gradient_penalty(LinearCritic(w), real, fake, weight=10.0)
    assert weighted.item() == pytest.approx(10 * expected, abs=1e-4)


def test_gradient_penalty_norm_spans_all_non_batch_dims() -> None:
    # Gradient 1 in every one of C*H*W = 48 entries: norm sqrt(48); a per-channel or per-pixel norm would differ.
    critic = LinearCritic(torch.ones(3, 4, 4))
    gp = losses.gradient_penalty(critic, torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4))
    assert gp.item() == pytest.approx((math.sqrt(48) - 1) ** 2, rel=1e-5)


class SquareCritic(nn.Module):
    """D(x) = 0.5 * ||x||^2, gradient x: the penalty reveals where each sample was interpolated."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_gradient_penalty_uses_one_alpha_per_sample_from_the_generator() -> None:
    n = 64
    real, fake = torch.ones(n, 2, 3, 3), torch.zeros(n, 2, 3, 3)
    critic = SquareCritic()
    gp = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    alpha = critic.seen[:, 0, 0, 0]
    assert torch.equal(critic.seen, alpha.view(n, 1, 1, 1).expand_as(critic.seen))  # one alpha within a sample
    assert alpha.unique().numel() == n and 0 < alpha.min() and alpha.max() < 1  # a different alpha per sample
    expected = ((alpha * math.sqrt(18) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)
    again = SquareCritic()
    losses.gradient_penalty(again, real, fake, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again.seen, critic.seen)


def test_gradient_penalty_flat_inputs_alpha_per_row() -> None:
    critic = SquareCritic()
    losses.gradient_penalty(critic, torch.ones(16, 5), torch.zeros(16, 5), generator=torch.Generator().manual_seed(1))
    assert torch.equal(critic.seen, critic.seen[:, :1].expand(16, 5))
    assert critic.seen[:, 0].unique().numel() == 16


def test_gradient_penalty_trains_the_critic_towards_unit_norm() -> None:
    critic = LinearCritic(torch.full((4,), 1.5))
    gp = losses.gradient_penalty(critic, torch.randn(3, 4), torch.randn(3, 4))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||, with ||w|| = 3
    assert torch.allclose(critic.w.grad, torch.full((4,), 2 * 2 * 1.5 / 3))


class DeadReluCritic(nn.Module):
    """A critic whose input gradient is exactly zero on negative inputs, but which has parameters in the graph."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.relu(x) * self.w).flatten(1).sum(1)


class ConstantCritic(nn.Module):
    """D(x) = b, independent of x."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b.expand(x.shape[0])


@pytest.mark.parametrize("critic_cls", [DeadReluCritic, ConstantCritic])
def test_gradient_penalty_is_zero_gradient_safe(critic_cls: type[nn.Module]) -> None:
    critic = critic_cls()
    real, fake = -torch.rand(4, 2, 3, 3) - 0.1, -torch.rand(4, 2, 3, 3) - 0.1
    gp = losses.gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(1.0)
    loss = losses.wgan_d_loss(critic(real), critic(fake)) + 10 * gp
    loss.backward()
    for p in critic.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_gradient_penalty_under_autocast_is_float32_and_equal() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(48, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    real, fake = torch.randn(4, 3, 4, 4), torch.randn(4, 3, 4, 4)
    plain = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(plain.item(), rel=1e-6)


def test_gradient_penalty_accepts_a_compiled_critic_without_compiling() -> None:
    critic = LinearCritic(torch.full((4,), 1.5))
    compiled = torch.compile(critic)  # compiles lazily on its first call, which the penalty never makes
    gp = losses.gradient_penalty(compiled, torch.randn(3, 4), torch.randn(3, 4))
    gp.backward()
    assert gp.item() == pytest.approx(4.0) and critic.w.grad is not None


def test_gradient_penalty_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(LinearCritic(torch.ones(4)), torch.zeros(2, 4), torch.zeros(3, 4))


def test_clip_weights_bounds_every_parameter() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10)
    losses.clip_weights(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())
    with pytest.raises(ValueError, match="positive"):
        losses.clip_weights(net, 0.0)


@pytest.mark.parametrize("use_module", [False, True])
def test_weight_clipper_as_optimizer_step_hook(use_module: bool) -> None:
    torch.manual_seed(0)
    critic = nn.Linear(6, 1)
    opt = torch.optim.SGD(critic.parameters(), lr=10.0)
    clipper = losses.WeightClipper(critic, 0.01) if use_module else losses.WeightClipper(0.01)
    opt.register_step_post_hook(clipper)
    for _ in range(3):
        opt.zero_grad()
        (-critic(torch.randn(8, 6)).mean()).backward()
        opt.step()
        assert all(p.abs().max() <= 0.01 for p in critic.parameters())
    assert max(p.abs().max().item() for p in critic.parameters()) == pytest.approx(0.01)


def test_weight_clipper_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match=r"\(module, c\)"):
        losses.WeightClipper(0.01, nn.Linear(2, 1))
    with pytest.raises(ValueError, match="positive"):
        losses.WeightClipper(-1)
    with pytest.raises(TypeError, match="no module"):
        losses.WeightClipper(0.01)()


def _vae_inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 4, 4, generator=g)
    recon = torch.rand(3, 3, 4, 4, generator=g) * 0.98 + 0.01
    mu = torch.randn(3, 5, generator=g)
    logvar = torch.randn(3, 5, generator=g) * 0.5
    return recon, x, mu, logvar


def test_vae_kl_matches_closed_form() -> None:
    recon, x, mu, logvar = _vae_inputs()
    _, _, kl = losses.vae_loss(recon, x, mu, logvar)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert kl.item() == pytest.approx(expected.item(), rel=1e-5)
    _, _, zero = losses.vae_loss(recon, x, torch.zeros(3, 5), torch.zeros(3, 5))
    assert zero.item() == 0.0


def test_vae_reconstruction_bce_and_mse_values() -> None:
    recon, x, mu, logvar = _vae_inputs()
    r, t = recon.numpy().astype(np.float64), x.numpy().astype(np.float64)
    bce = -(t * np.log(r) + (1 - t) * np.log(1 - r)).reshape(3, -1).sum(1).mean()
    mse = ((r - t) ** 2).reshape(3, -1).sum(1).mean()
    total, rec, kl = losses.vae_loss(recon, x, mu, logvar, beta=0.5)
    assert rec.item() == pytest.approx(bce, rel=1e-5)
    assert total.item() == pytest.approx(rec.item() + 0.5 * kl.item(), rel=1e-6)
    _, rec_mse, _ = losses.vae_loss(recon, x, mu, logvar, reconstruction="mse")
    assert rec_mse.item() == pytest.approx(mse, rel=1e-5)
    total_sum, rec_sum, kl_sum = losses.vae_loss(recon, x, mu, logvar, reduction="sum")
    assert rec_sum.item() == pytest.approx(3 * rec.item(), rel=1e-6)
    assert kl_sum.item() == pytest.approx(3 * kl.item(), rel=1e-6)


def test_vae_loss_backpropagates_to_all_inputs() -> None:
    recon, x, mu, logvar = (t.clone().requires_grad_(i != 1) for i, t in enumerate(_vae_inputs()))
    total, _, _ = losses.vae_loss(recon, x, mu, logvar)
    total.backward()
    assert all(torch.isfinite(t.grad).all() for t in (recon, mu, logvar))


def test_vae_loss_clear_errors() -> None:
    recon, x, mu, logvar = _vae_inputs()
    with pytest.raises(ValueError, match=r"targets x in \[0, 1\].*value_range=\(0, 1\)"):
        losses.vae_loss(recon, x * 2 - 1, mu, logvar)
    losses.vae_loss(recon * 2 - 1, x * 2 - 1, mu, logvar, reconstruction="mse")
    with pytest.raises(ValueError, match="sigmoid"):
        losses.vae_loss(recon + 1, x, mu, logvar)
    with pytest.raises(ValueError, match="'bce'"):
        losses.vae_loss(recon, x, mu, logvar, reconstruction="l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same shape"):
        losses.vae_loss(recon[:2], x, mu, logvar)


def test_vae_loss_range_check_can_be_skipped_and_the_engine_checks_once(monkeypatch) -> None:
    recon, x, mu, logvar = _vae_inputs()
    torch.testing.assert_close(losses.vae_loss(recon, x, mu, logvar, check_range=False)[0],
                               losses.vae_loss(recon, x, mu, logvar)[0])

    from facegen_utils import models
    from facegen_utils.datasets.procedural import SyntheticFaces
    from facegen_utils.training import Trainer, TrainConfig

    flags = []
    real_vae_loss = losses.vae_loss
    monkeypatch.setattr(losses, "vae_loss", lambda *a, **k: flags.append(k["check_range"]) or real_vae_loss(*a, **k))
    vae = models.build("keras-vae", image_size=16, latent_dim=4, base_channels=4)
    Trainer(vae, SyntheticFaces(48, image_size=16, value_range=(0, 1)),
            TrainConfig(objective="vae", epochs=1, batch_size=16, sample_every=0, device="cpu")).fit()
    assert flags == [True, False, False]


def test_vae_loss_under_autocast_matches_float32() -> None:
    recon, x, mu, logvar = _vae_inputs()
    plain = losses.vae_loss(recon, x, mu, logvar)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = losses.vae_loss(recon, x, mu, logvar)
    for a, b in zip(plain, mixed):
        assert b.dtype == torch.float32 and b.item() == pytest.approx(a.item(), rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gradient_penalty_and_vae_loss_under_cuda_autocast() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 4 * 4, 1)).cuda()
    real, fake = torch.randn(8, 3, 8, 8, device="cuda"), torch.randn(8, 3, 8, 8, device="cuda")
    cpu_gen = torch.Generator().manual_seed(5)
    plain = losses.gradient_penalty(critic, real, fake, generator=cpu_gen)
    with torch.autocast("cuda", dtype=torch.float16):
        mixed = losses.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
        recon, x, mu, logvar = (t.cuda() for t in _vae_inputs())
        total, _, _ = losses.vae_loss(recon, x, mu, logvar)
    assert mixed.dtype == torch.float32 and mixed.item() == pytest.approx(plain.item(), rel=1e-5)
    (mixed + total).backward()
    # the penalty reaches the weights; the biases only shift where LeakyReLU bends, so they get no gradient
    weights = [critic[0].weight, critic[3].weight]
    assert all(w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 for w in weights)
