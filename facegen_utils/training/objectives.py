"""Training objectives as a registry: each one a class that owns its losses, its log columns and its schedule.

- ``gan``: Goodfellow et al. (2014), "Generative Adversarial Nets", non-saturating generator loss, BCE on logits,
  optional label smoothing (report 003: real 0.8, fake 0.1), discriminator accuracy logged (report 002).
- ``wgan-clip``: Arjovsky et al. (2017), "Wasserstein GAN", Algorithm 1: critic weights clipped after every critic
  step (an optimiser step hook), RMSProp, n_critic critic steps per generator step (report 000).
- ``wgan-gp``: Gulrajani et al. (2017), "Improved Training of Wasserstein GANs": gradient penalty instead of
  clipping (report 001, which steps the critic on every batch and the generator on every 5th).
- ``vae``: Kingma & Welling (2014), "Auto-Encoding Variational Bayes": reconstruction + KL (report 000).
- ``cgan``: the ``gan`` objective for a conditional generator and discriminator (Mirza & Osindero 2014): both see
  the label rows of the real batch; the fakes are drawn with the same labels, so every condition is trained as often
  as the data hold it (notebook 07).
- ``diffusion``: Ho et al. (2020), "Denoising Diffusion Probabilistic Models": the simple loss ||ε - ε̂(x_t, t)||²
  at a uniformly drawn step t (notebook 06).

The Trainer asks an objective which networks step on a batch (:meth:`Objective.phases`) and, for each, the loss
(:meth:`Objective.loss`); it then runs the backward pass and the optimiser step itself. An objective never steps,
so the dependencies go one way. To add one: subclass :class:`Objective`, set ``name``, ``roles`` (the networks of
``ModelSet.modules()`` it trains), ``columns`` and ``needs``, and decorate the class with :func:`register`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from facegen_utils import losses
from facegen_utils.tensors import frozen, memory_format

__all__ = ["Objective", "Step", "GAN", "WGANClip", "WGANGP", "VAE", "Diffusion", "ConditionalGAN", "register", "names", "get", "check_compatible"]

_ROLE_WORDS = {"G": "a generator", "D": "a discriminator/critic", "vae": "a VAE", "denoiser": "a diffusion model"}
_REGISTRY: dict[str, type["Objective"]] = {}
_Losses = tuple[torch.Tensor, dict[str, torch.Tensor]]  # a loss and the values to log with it


@dataclass
class Step:
    """What an objective sees of one iteration: the real batch, the networks and the random sources."""

    real: torch.Tensor                          # the real images, on the device, in the model's value range
    phases: tuple[str, ...]                     # the roles that step in this iteration, in order
    nets: Mapping[str, Callable[..., Any]]      # role -> the network as trained (DDP-wrapped and/or compiled)
    plain: Mapping[str, Callable[..., Any]]     # role -> compiled but not DDP-wrapped (Objective.plain_roles)
    modules: Mapping[str, nn.Module]            # role -> the bare module
    latent_dim: int
    prior: Any                                  # a facegen_utils.noise prior
    noise: torch.Generator                      # seeded per (seed, rank, step): latents, mixing, penalty points
    autocast: Callable[[], AbstractContextManager]
    scratch: dict[str, Any] = field(default_factory=dict)  # what one phase leaves for the next
    labels: torch.Tensor | None = None          # the real batch's label rows (conditional objectives), (N, A)
    augment: Callable[[torch.Tensor], torch.Tensor] = lambda x: x  # applied to every batch a critic scores

    def like_real(self, images: torch.Tensor) -> torch.Tensor:
        """Generated images in the real batch's dtype and memory layout, so the critic always sees one kind of input.

        Under autocast the generator returns bf16/fp16 images while the batch is float32, and a channels_last batch
        meets a generator that may end in NCHW: a compiled critic would then be traced again for each kind (and
        torch.compile stops compiling a function after 8 traces). The critic's first layer casts to the autocast
        type itself, so its arithmetic does not change."""
        return images.to(dtype=self.real.dtype, memory_format=memory_format(self.real))

    @property
    def told(self) -> tuple[torch.Tensor, ...]:
        """The extra arguments of a conditional pair's networks: (labels,), or () without labels."""
        return () if self.labels is None else (self.labels,)


class Objective:
    """One training objective: the losses of each network role, the columns it logs and its schedule."""

    name: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()        # networks it trains, as ModelSet.modules() names them
    columns: ClassVar[tuple[str, ...]] = ()      # values logged per iteration (besides epoch and step)
    needs: ClassVar[str] = ""                    # the networks it needs, in words (for error messages)
    generator_role: ClassVar[str] = "G"          # the role whose step also updates the EMA of G
    plain_roles: ClassVar[tuple[str, ...]] = ()  # roles also needed compiled but outside DDP (Step.plain)
    conditional: ClassVar[bool] = False          # trains on labelled images (Step.labels) and a conditional model

    def __init__(self, config: Any) -> None:
        self.config = config

    def attach(self, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """Called once the networks and optimisers exist (e.g. to hook weight clipping into a step)."""

    def phases(self, index: int, step: int) -> tuple[str, ...]:
        """The roles that step on this batch (``index``: position in the epoch; ``step``: iterations done)."""
        return self.roles

    def loss(self, role: str, step: Step) -> _Losses:
        """The loss that ``role`` minimises now, and the values to log with it."""
        raise NotImplementedError


def register(cls: type[Objective]) -> type[Objective]:
    """Add an objective class to the registry under ``cls.name`` (usable as a class decorator)."""
    if not cls.name or not cls.roles:
        raise ValueError(f"{cls.__name__} needs a name and the roles it trains")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> tuple[str, ...]:
    """The registered objective names."""
    return tuple(_REGISTRY)


def get(name: str) -> type[Objective]:
    """The objective class registered under ``name``."""
    from facegen_utils.spec import check_choice

    check_choice("objective", name, names())
    return _REGISTRY[name]


def check_compatible(objective: str, model: str, roles: tuple[str, ...] | None = None) -> None:
    """Raise a ValueError unless the objective trains the networks the model has (its registry roles or ``roles``)."""
    from facegen_utils import models

    have = tuple(roles) if roles is not None else models.entry(model).roles
    cls = get(objective)
    if model in models.names() and cls.conditional != models.entry(model).conditional:
        fitting = [name for name, c in _REGISTRY.items() if c.conditional == models.entry(model).conditional
                   and set(c.roles) == set(have)]
        raise ValueError(f"objective={objective!r} is {'' if cls.conditional else 'not '}conditional but model "
                         f"{model!r} is {'' if models.entry(model).conditional else 'not '}; use objective "
                         f"{' or '.join(map(repr, fitting)) or 'of another model'}.")
    if set(cls.roles) != set(have):
        fitting = [name for name, c in _REGISTRY.items() if set(c.roles) == set(have)]
        raise ValueError(f"objective={objective!r} needs {cls.needs}, but {model!r} has "
                         f"{' and '.join(_ROLE_WORDS.get(r, r) for r in have)}; use objective "
                         f"{' or '.join(map(repr, fitting)) or 'of another model'}.")


class _Adversarial(Objective):
    """A generator against a discriminator/critic: the critic steps on every batch, G when the schedule says.

    The generator steps on the fakes the critic just saw (as the PyTorch DCGAN tutorial does, one forward pass of G
    saved), through the critic with its weights frozen. Real and generated images share one critic pass when no
    layer mixes the samples of a batch (BatchNorm does: its statistics would then cover both halves). Every batch
    the critic scores passes through ``Step.augment`` first (``TrainConfig.augment``; the identity by default), with
    new random draws each time: the real and generated images of the critic's step and the fakes of G's step."""

    roles = ("G", "D")
    needs = "a generator and a discriminator/critic"
    plain_roles = ("D",)  # the generator step goes through the bare critic: frozen weights, nothing to synchronise

    def attach(self, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        self.joint = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules["D"].modules())

    def phases(self, index: int, step: int) -> tuple[str, ...]:
        n = self.config.n_critic
        train_G = index % n == 0 if self.config.critic_schedule == "every-nth" else (step + 1) % n == 0
        return ("D", "G") if train_G else ("D",)

    def loss(self, role: str, step: Step) -> _Losses:
        if role == "G":
            with frozen(step.modules["D"]), step.autocast():
                fake_out = step.plain["D"](step.augment(step.scratch["fake"]), *step.told).view(-1)
                loss_G = self.generator_loss(fake_out)
            return loss_G, {"loss_G": loss_G}
        real, told = step.real, step.told  # a conditional pair also sees the batch's labels
        z = step.prior.sample(real.shape[0], step.latent_dim, generator=step.noise, device=real.device)
        with step.autocast(), torch.set_grad_enabled("G" in step.phases):
            fake = step.scratch["fake"] = step.like_real(step.nets["G"](z, *told))
        with step.autocast():
            if self.joint:  # one pass over twice the batch: each weight matrix is read once, not twice
                both = () if not told else (torch.cat([step.labels, step.labels]),)
                real_out, fake_out = step.nets["D"](step.augment(torch.cat([real, fake.detach()])), *both).view(
                    -1).split(real.shape[0])
            else:
                real_out = step.nets["D"](step.augment(real), *told).view(-1)
                fake_out = step.nets["D"](step.augment(fake.detach()), *told).view(-1)
        loss_D, stats = self.critic_loss(real_out, fake_out, step)
        return loss_D, {"loss_D": loss_D, **stats}

    def critic_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor, step: Step) -> _Losses:
        """The critic's loss on its outputs for real and generated images, and what to log with it."""
        loss = losses.wgan_d_loss(real_out, fake_out)
        return loss, {"d_real": real_out.detach().float().mean(), "d_fake": fake_out.detach().float().mean()}

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        """The generator's loss on the critic's outputs for its images."""
        return losses.wgan_g_loss(fake_out)


@register
class GAN(_Adversarial):
    """BCE on logits with label smoothing; D(x), D(G(z)) logged as probabilities, with D's accuracy."""

    name = "gan"
    columns = ("loss_D", "loss_G", "d_acc", "d_real", "d_fake")

    def critic_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor, step: Step) -> _Losses:
        loss = losses.bce_d_loss(real_out, fake_out, real_label=self.config.real_label,
                                 fake_label=self.config.fake_label)
        return loss, {"d_acc": losses.d_accuracy(real_out, fake_out),
                      "d_real": torch.sigmoid(real_out.detach().float()).mean(),
                      "d_fake": torch.sigmoid(fake_out.detach().float()).mean()}

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return losses.bce_g_loss(fake_out, real_label=self.config.real_label)


@register
class ConditionalGAN(GAN):
    """``gan`` for a conditional pair: G draws the real batch's label rows, D scores each image with its labels."""

    name = "cgan"
    conditional = True
    needs = "a conditional generator and discriminator (e.g. models.build('cdcgan'))"


@register
class WGANClip(_Adversarial):
    """Wasserstein critic whose weights are clamped to [-c, c] after every critic step; mean scores logged."""

    name = "wgan-clip"
    columns = ("loss_D", "loss_G", "d_real", "d_fake")

    def attach(self, modules: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        super().attach(modules, optimizers)
        optimizers["D"].register_step_post_hook(losses.WeightClipper(self.config.clip_value))


@register
class WGANGP(_Adversarial):
    """Wasserstein critic with the gradient penalty; ``loss_D`` includes ``gp_weight * gp``.

    The penalty runs through the bare critic (``torch.compile`` does not support its double backward); its weight
    gradients join the critic's single backward pass, in which DDP averages every gradient once."""

    name = "wgan-gp"
    columns = ("loss_D", "loss_G", "gp", "d_real", "d_fake")

    def critic_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor, step: Step) -> _Losses:
        loss, stats = super().critic_loss(real_out, fake_out, step)
        penalty = losses.gradient_penalty(step.modules["D"], step.real, step.scratch["fake"], generator=step.noise)
        return loss + self.config.gp_weight * penalty, {"gp": penalty, **stats}


@register
class VAE(Objective):
    """Encode, sample, decode; reconstruction + beta * KL. The value range is checked on the first step only."""

    name = "vae"
    roles = ("vae",)
    columns = ("loss", "recon", "kl")
    needs = "a VAE (e.g. models.build('keras-vae'))"
    generator_role = "vae"
    _range_checked = False  # set on the first step: the check waits for the device, once per process is enough

    def loss(self, role: str, step: Step) -> _Losses:
        with step.autocast():
            recon, mu, logvar = step.nets["vae"](step.real)
        loss, recon_term, kl = losses.vae_loss(recon, step.real, mu, logvar, beta=self.config.vae_beta,
                                               reconstruction=self.config.vae_reconstruction,
                                               check_range=not self._range_checked)
        self._range_checked = True
        return loss, {"loss": loss, "recon": recon_term, "kl": kl}


@register
class Diffusion(Objective):
    """The noise of x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε predicted at a uniform t; MSE (Ho et al.'s L_simple)."""

    name = "diffusion"
    roles = ("denoiser",)
    columns = ("loss",)
    needs = "a diffusion model (e.g. models.build('ddpm-unet'))"
    generator_role = "denoiser"

    def loss(self, role: str, step: Step) -> _Losses:
        real, model = step.real, step.modules["denoiser"]
        t = torch.randint(0, model.timesteps, (real.shape[0],), generator=step.noise, device=real.device)
        noise = torch.randn(real.shape, generator=step.noise, device=real.device, dtype=real.dtype)
        x_t = model.diffuse(real, t, noise)
        with step.autocast():
            predicted = step.nets["denoiser"](x_t, t)
        loss = losses.diffusion_loss(predicted, noise)
        return loss, {"loss": loss}
