"""Losses of the five reports: BCE GAN, Wasserstein GAN (weight clipping, gradient penalty) and VAE.

- BCE GAN with the non-saturating generator loss (Goodfellow et al. 2014, "Generative Adversarial Nets"),
  computed on logits with ``binary_cross_entropy_with_logits`` so it stays finite for any logit. Optional label
  smoothing: one-sided (real 0.9, Salimans et al. 2016, "Improved Techniques for Training GANs") or two-sided as in
  report 003 (real 0.8, fake 0.1). Discriminator accuracy as report 002 logs it next to the losses.
- Wasserstein critic and generator losses with weight clipping (Arjovsky et al. 2017, "Wasserstein GAN",
  Algorithm 1; report 000) and the gradient penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein
  GANs"; report 001), computed per sample over all non-batch dimensions.
- VAE loss: reconstruction + beta * KL(q(z|x) || N(0, I)) (Kingma & Welling 2014, "Auto-Encoding Variational
  Bayes"; report 000), both summed per sample and averaged over the batch as in the Keras VAE example.
- Diffusion: Ho et al.'s (2020) "simple" loss, the mean squared error between the noise and its prediction.
"""
from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["bce_d_loss", "bce_g_loss", "d_accuracy", "wgan_d_loss", "wgan_g_loss", "gradient_penalty", "clip_weights",
           "WeightClipper", "vae_loss", "diffusion_loss"]


def _flat_float(logits: torch.Tensor) -> torch.Tensor:
    """Logits/scores of shape (N,) or (N, 1) as a float32 vector (N,)."""
    return logits.reshape(-1).float()


def _check_label(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r} is not a probability: BCE targets must lie in [0, 1] "
                         f"(report 003 uses real_label=0.8, fake_label=0.1).")


def bce_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *,
               real_label: float = 1.0, fake_label: float = 0.0) -> torch.Tensor:
    """Discriminator BCE on logits: mean BCE(real, real_label) + mean BCE(fake, fake_label), as the reports sum them."""
    _check_label("real_label", real_label)
    _check_label("fake_label", fake_label)
    real = _flat_float(real_logits)
    fake = _flat_float(fake_logits)
    real_loss = F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_label))
    fake_loss = F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, fake_label))
    return real_loss + fake_loss


def bce_g_loss(fake_logits: torch.Tensor, *, real_label: float = 1.0) -> torch.Tensor:
    """Non-saturating generator loss: mean BCE(D(G(z)), real_label), i.e. maximise log D(G(z)).

    ``real_label`` is 1 in Goodfellow et al.; report 003 reuses its smoothed ``real_loss`` (target 0.8) here.
    """
    _check_label("real_label", real_label)
    fake = _flat_float(fake_logits)
    return F.binary_cross_entropy_with_logits(fake, torch.full_like(fake, real_label))


@torch.no_grad()
def d_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Share of correct discriminator decisions: real if logit > 0 (probability > 0.5, the Keras rule), else fake."""
    real = _flat_float(real_logits)
    fake = _flat_float(fake_logits)
    correct = (real > 0).sum() + (fake <= 0).sum()
    return correct.float() / (real.numel() + fake.numel())


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss to minimise: mean D(fake) - mean D(real) (the negative Wasserstein estimate)."""
    return _flat_float(fake_scores).mean() - _flat_float(real_scores).mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss to minimise: -mean D(G(z))."""
    return -_flat_float(fake_scores).mean()


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, *,
                     generator: torch.Generator | None = None, weight: float = 1.0) -> torch.Tensor:
    """WGAN-GP penalty weight * mean_i (||grad_x D(x_i)||_2 - 1)^2 at x_i = a_i real_i + (1 - a_i) fake_i.

    One a_i ~ U(0, 1) per sample (drawn with ``generator`` when given); the norm runs over every non-batch
    dimension (C x H x W for images, the whole vector for flat inputs). The critic runs with autocast switched
    off, in its parameters' dtype (float32 in mixed-precision training), so the penalty is the same with or without
    mixed precision. A ``torch.compile``d critic is evaluated through its eager module (same parameters), as
    compiled graphs do not support the double backward the penalty needs. A critic whose gradient is exactly zero
    gives a penalty of ``weight`` and finite parameter gradients.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} batches must "
                         f"have the same shape; draw as many fakes as there are real images.")
    if real.ndim < 2:
        raise ValueError(f"gradient_penalty: expected a batch (N, ...) of at least 2 dimensions, "
                         f"got {tuple(real.shape)}.")
    n = real.shape[0]
    D = getattr(D, "_orig_mod", D)
    param = next(D.parameters(), None)
    dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
    alpha_shape = (n,) + (1,) * (real.ndim - 1)
    alpha_device = generator.device if generator is not None else real.device
    alpha = torch.rand(alpha_shape, generator=generator, device=alpha_device, dtype=torch.float32).to(real.device)
    mixed = alpha * real.detach().float() + (1.0 - alpha) * fake.detach().float()
    mixed = mixed.to(dtype).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        scores = D(mixed)
        grad = None
        if scores.requires_grad:
            (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(mixed)
        norms = torch.linalg.vector_norm(grad.reshape(n, -1).float(), ord=2, dim=1)
        return weight * ((norms - 1.0) ** 2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` to [-c, c] in place (Arjovsky et al. 2017; report 000 uses c = 0.01)."""
    _check_clip(c)
    for p in module.parameters():
        p.clamp_(-c, c)


def _check_clip(c: float) -> None:
    if not c > 0:
        raise ValueError(f"clip value c={c!r} must be positive (report 000 uses clip_value=0.01).")


class WeightClipper:
    """Weight clipping as an optimiser step hook: ``opt_D.register_step_post_hook(WeightClipper(0.01))``.

    ``WeightClipper(c)`` clamps the parameters the hooked optimiser updates; ``WeightClipper(module, c)`` clamps
    ``module``'s parameters instead. The object can also be called with no arguments after ``opt.step()``.
    """

    @overload
    def __init__(self, c: float, /) -> None: ...
    @overload
    def __init__(self, module: nn.Module, c: float, /) -> None: ...

    def __init__(self, *args: nn.Module | float) -> None:
        if len(args) == 1 and not isinstance(args[0], nn.Module):
            self.module: nn.Module | None = None
            self.c = float(args[0])
        elif len(args) == 2 and isinstance(args[0], nn.Module) and not isinstance(args[1], nn.Module):
            self.module = args[0]
            self.c = float(args[1])
        else:
            raise TypeError("WeightClipper takes (c) or (module, c), "
                            "e.g. WeightClipper(0.01) or WeightClipper(D, 0.01).")
        _check_clip(self.c)

    @torch.no_grad()
    def __call__(self, optimizer: torch.optim.Optimizer | None = None, *_hook_args: object) -> None:
        """Clamp the parameters (signature of ``Optimizer.register_step_post_hook``: optimizer, args, kwargs)."""
        if self.module is not None:
            clip_weights(self.module, self.c)
        elif optimizer is not None:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.clamp_(-self.c, self.c)
        else:
            raise TypeError("WeightClipper(c) has no module to clip: register it with "
                            "opt.register_step_post_hook(...) or build it as WeightClipper(module, c).")

    def __repr__(self) -> str:
        target = "optimiser parameters" if self.module is None else type(self.module).__name__
        return f"WeightClipper(c={self.c}, target={target})"


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, *, beta: float = 1.0,
             reconstruction: Literal["bce", "mse"] = "bce", reduction: Literal["mean", "sum"] = "mean",
             check_range: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VAE loss -> (total, reconstruction term, KL term) with total = reconstruction + beta * KL.

    Both terms are summed over a sample's pixels (C x H x W) / latent units, then averaged over the batch
    (``reduction="mean"``) or summed over it (``"sum"``). ``reconstruction="bce"`` expects the decoder's
    sigmoid output and targets in [0, 1]; ``"mse"`` is the squared error. KL(N(mu, exp(logvar)) || N(0, I)) =
    -0.5 * sum(1 + logvar - mu^2 - exp(logvar)). Keras' ``binary_crossentropy`` averages over the channel axis
    first, so the Keras example's reconstruction figure is this one divided by C. With BCE, ``check_range``
    verifies that targets and reconstructions lie in [0, 1] (a clear error instead of NaNs); the check reads four
    numbers back from the device, so a training loop on a GPU does it once, not every step.
    """
    if recon.shape != x.shape:
        raise ValueError(f"vae_loss: recon {tuple(recon.shape)} and x {tuple(x.shape)} must have the same shape.")
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(f"vae_loss: mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must both be "
                         f"(N, latent_dim) with N = {x.shape[0]}.")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"vae_loss: reduction={reduction!r}; use 'mean' (over the batch) or 'sum'.")
    n = x.shape[0]
    with torch.autocast(device_type=x.device.type, enabled=False):
        recon32, x32 = recon.float(), x.float()
        if reconstruction == "bce" and check_range:
            x_lo, x_hi, r_lo, r_hi = torch.stack([x32.min(), x32.max(), recon32.min(), recon32.max()]).tolist()
            if x_lo < 0.0 or x_hi > 1.0:
                raise ValueError(f"vae_loss: BCE reconstruction needs targets x in [0, 1], but x spans "
                                 f"[{x_lo:.3g}, {x_hi:.3g}]; load the data with value_range=(0, 1) or use "
                                 f"reconstruction='mse'.")
            if r_lo < 0.0 or r_hi > 1.0:
                raise ValueError(f"vae_loss: BCE reconstruction needs probabilities (a sigmoid output) in [0, 1], "
                                 f"but recon spans [{r_lo:.3g}, {r_hi:.3g}]; end the decoder with a sigmoid.")
        if reconstruction == "bce":
            per_pixel = F.binary_cross_entropy(recon32, x32, reduction="none")
        elif reconstruction == "mse":
            per_pixel = (recon32 - x32) ** 2
        else:
            raise ValueError(f"vae_loss: reconstruction={reconstruction!r}; use 'bce' (data in [0, 1]) or 'mse'.")
        mu32, logvar32 = mu.float(), logvar.float()
        kl_per_unit = -0.5 * (1.0 + logvar32 - mu32.pow(2) - logvar32.exp())
        scale = 1.0 / n if reduction == "mean" else 1.0
        recon_term = per_pixel.sum() * scale
        kl_term = kl_per_unit.sum() * scale
        return recon_term + beta * kl_term, recon_term, kl_term


def diffusion_loss(predicted_noise: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Ho et al.'s L_simple: the mean over pixels and batch of (ε̂ - ε)², in float32 (also under autocast)."""
    if predicted_noise.shape != noise.shape:
        raise ValueError(f"diffusion_loss: the prediction {tuple(predicted_noise.shape)} and the noise "
                         f"{tuple(noise.shape)} must have the same shape (the network predicts the noise of x_t).")
    return F.mse_loss(predicted_noise.float(), noise.float())
