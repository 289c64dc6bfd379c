"""The model registry: ``names()``, ``entry(name)`` (builder, latent size, value range, default objective, networks)
and ``build(name, ...)`` returning a :class:`ModelSet` (G, D, VAE or diffusion model, latent size)."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from facegen_utils.spec import check_int, check_number, suggest

from ._common import KERAS_BATCH_NORM, keras_init_
from .conditional import DISCRIMINATORS, ConditionalDiscriminator, ConditionalGenerator
from .dcgan import Discriminator, Generator
from .keras_style import KerasCritic, KerasDiscriminator, KerasGenerator
from .mlp import MLPDiscriminator, MLPGenerator, UpsampleConvGenerator
from .unet import DiffusionModel, DiffusionSampler, UNet
from .vae import ConvVAE

TANH_RANGE = (-1.0, 1.0)
SIGMOID_RANGE = (0.0, 1.0)


@dataclass
class ModelSet:
    """The networks of one registered model: generator ``G``, discriminator/critic ``D``, a whole ``vae`` or the
    ``denoiser`` of a diffusion model (then ``G`` is its deterministic DDIM sampler, a latent being the start noise)."""

    name: str
    G: nn.Module = field(repr=False)
    D: nn.Module | None = field(repr=False)
    vae: nn.Module | None = field(repr=False)
    latent_dim: int
    value_range: tuple[float, float]
    image_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)
    denoiser: nn.Module | None = field(default=None, repr=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, image_size, image_size) of the images G makes and D reads."""
        return (int(self.options.get("channels", 3)), self.image_size, self.image_size)

    @property
    def spec(self) -> Any:
        """The :class:`facegen_utils.spec.ModelSpec` that rebuilds these networks."""
        from facegen_utils.spec import ModelSpec

        return ModelSpec(self.name, self.image_size, self.latent_dim, dict(self.options))

    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild the same architecture: ``build(**models.config())``."""
        return {"name": self.name, "image_size": self.image_size, "latent_dim": self.latent_dim, **self.options}

    def modules(self) -> dict[str, nn.Module]:
        """The trainable networks by role: {"G", "D"} for GANs, {"vae"} for the VAE, {"denoiser"} for diffusion."""
        if self.vae is not None:
            return {"vae": self.vae}
        if self.denoiser is not None:
            return {"denoiser": self.denoiser}
        return {"G": self.G, **({"D": self.D} if self.D is not None else {})}


@dataclass(frozen=True)
class Entry:
    """How to build one registered model, and what it needs from the data and the training."""

    builder: Callable[..., tuple[nn.Module, nn.Module | None, nn.Module | None]]
    latent_dim: int                    # the report's latent size (0: the image's size, a diffusion model's x_T)
    value_range: tuple[float, float]   # the generator's output range; the data are scaled to it
    description: str
    objective: str = "gan"             # the objective it trains with unless told otherwise
    roles: tuple[str, ...] = ("G", "D")  # the networks it has (ModelSet.modules()); objectives need matching ones
    conditional: bool = False          # takes attribute labels; its latent ends with one condition coordinate each


#: PyTorch momentum of Keras' BatchNormalization default (Keras momentum 0.99). Short runs may raise it (the
#: ``bn_momentum`` option): with 0.01 the running statistics still weigh their initial values by 0.99**steps, so
#: a generator trained a few hundred steps makes washed-out grey images in eval mode.
KERAS_BN_MOMENTUM = KERAS_BATCH_NORM["momentum"]


def _with_bn_momentum(momentum: float, *modules: nn.Module | None) -> tuple[nn.Module | None, ...]:
    """Set the running-statistics momentum of every BatchNorm layer in ``modules``; return them."""
    check_number("bn_momentum", momentum, 0, 1, high_inclusive=True,
                 example=f"0.1 (PyTorch's: the weight of the new batch statistic; Keras momentum 0.99 is "
                         f"{KERAS_BN_MOMENTUM})")
    for module in modules:
        for layer in module.modules() if module is not None else ():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                layer.momentum = float(momentum)
    return modules


def _dcgan(latent_dim: int, image_size: int, *, base_channels: int = 64, channels: int = 3, sigmoid: bool = False,
           minibatch_std: int = 0, noise_inputs: bool = False):
    G = Generator(latent_dim, image_size=image_size, base_channels=base_channels, channels=channels,
                  noise_inputs=noise_inputs)
    D = Discriminator(image_size=image_size, base_channels=base_channels, channels=channels, sigmoid=sigmoid)
    return G, _minibatch_std(D, minibatch_std), None


#: model options that build only the discriminator/critic: the generator of two model sets that differ in them alone
#: is the same network
DISCRIMINATOR_OPTIONS = frozenset({"minibatch_std"})


def _minibatch_std(D: Any, group: int) -> Any:
    """``D`` with ``ImageScorer.add_minibatch_std(group)`` when ``group`` > 0 (option ``minibatch_std``; 0: as is)."""
    return D.add_minibatch_std(group) if group else D


def _keras_gan(latent_dim: int, image_size: int, *, base_channels: int = 32, channels: int = 3, kernel_size: int = 4,
               negative_slope: float = 0.3, dropout: float = 0.3, bn_momentum: float = KERAS_BN_MOMENTUM):
    common = {"image_size": image_size, "base_channels": base_channels, "channels": channels,
              "kernel_size": kernel_size, "negative_slope": negative_slope}
    return _with_bn_momentum(bn_momentum, KerasGenerator(latent_dim, **common),
                             KerasDiscriminator(dropout=dropout, **common), None)


def _keras_wgan(latent_dim: int, image_size: int, *, base_channels: int = 32, channels: int = 3, kernel_size: int = 4,
                negative_slope: float = 0.3, bn_momentum: float = KERAS_BN_MOMENTUM, minibatch_std: int = 0):
    common = {"image_size": image_size, "base_channels": base_channels, "channels": channels,
              "kernel_size": kernel_size, "negative_slope": negative_slope}
    return _with_bn_momentum(bn_momentum, KerasGenerator(latent_dim, **common),
                             _minibatch_std(KerasCritic(**common), minibatch_std), None)


def _keras_vae(latent_dim: int, image_size: int, *, base_channels: int = 32, channels: int = 3, kernel_size: int = 4,
               bn_momentum: float = KERAS_BN_MOMENTUM):
    vae = ConvVAE(latent_dim, image_size=image_size, base_channels=base_channels, channels=channels,
                  kernel_size=kernel_size)
    _with_bn_momentum(bn_momentum, vae)
    return vae.decoder, None, vae


def _mlp_wgan_gp(latent_dim: int, image_size: int, *, channels: int = 3,
                 hidden_dims: tuple[int, ...] = (256, 512, 1024), negative_slope: float = 0.01, minibatch_std: int = 0):
    G = MLPGenerator(latent_dim, image_size=image_size, channels=channels, hidden_dims=tuple(hidden_dims),
                     negative_slope=negative_slope)
    D = MLPDiscriminator(image_size=image_size, channels=channels, hidden_dims=tuple(hidden_dims)[::-1],
                         negative_slope=negative_slope)
    return G, _minibatch_std(D, minibatch_std), None


def _mlp_gan(latent_dim: int, image_size: int, *, channels: int = 3, hidden_dims: tuple[int, ...] = (512, 256),
             seed_channels: int = 16, conv_channels: int = 128, kernel_size: int = 5, negative_slope: float = 0.3,
             bn_momentum: float = KERAS_BN_MOMENTUM, minibatch_std: int = 0):
    G = UpsampleConvGenerator(latent_dim, image_size=image_size, channels=channels, seed_channels=seed_channels,
                              conv_channels=conv_channels, kernel_size=kernel_size, negative_slope=negative_slope)
    D = keras_init_(MLPDiscriminator(image_size=image_size, channels=channels, hidden_dims=tuple(hidden_dims),
                                     negative_slope=negative_slope))
    return _with_bn_momentum(bn_momentum, G, _minibatch_std(D, minibatch_std), None)


def _ddpm_unet(latent_dim: int, image_size: int, *, channels: int = 3, base_channels: int = 32,
               channel_mults: tuple[int, ...] = (1, 2, 2), blocks: int = 1, attention_size: int | None = 8,
               dropout: float = 0.0, schedule: str = "linear", timesteps: int = 1000, sample_steps: int = 50):
    if latent_dim != channels * image_size ** 2:
        raise ValueError(f"a diffusion model's latent is its starting noise x_T: latent_dim must be channels x "
                         f"image_size^2 = {channels * image_size ** 2} at image_size={image_size}, not {latent_dim}; "
                         f"leave latent_dim unset.")
    from facegen_utils.diffusion import check_steps

    check_steps("sample_steps", sample_steps, timesteps)
    for name, value in (("base_channels", base_channels), ("blocks", blocks)):
        check_int(name, value, 1)
    mults = tuple(channel_mults) if isinstance(channel_mults, (list, tuple)) else ()
    if not mults or not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in mults):
        raise ValueError(f"channel_mults={channel_mults!r} must be whole numbers >= 1, one per resolution level, e.g. "
                         f"(1, 2, 2) (CLI: --model-option channel_mults=1,2,2).")
    check_int("attention_size", attention_size, 1, optional="no attention outside the middle block")
    check_number("dropout", dropout, 0, 1, low_inclusive=True, example="0.1")
    unet = UNet(image_size=image_size, channels=channels, base_channels=base_channels,
                channel_mults=mults, blocks=blocks, attention_size=attention_size, dropout=dropout)
    model = DiffusionModel(unet, schedule=schedule, timesteps=timesteps)
    return DiffusionSampler(model, steps=sample_steps), None, None


def _cdcgan(latent_dim: int, image_size: int, *, conditions: dict[str, Any] | None = None,
            discriminator: str = "projection", base_channels: int = 64, channels: int = 3):
    from facegen_utils.conditioning import Conditions
    from facegen_utils.spec import check_choice

    check_choice("discriminator", discriminator, DISCRIMINATORS,
                 "'projection' (Miyato & Koyama 2018) or 'concat' (one-hot image planes)")
    chosen = Conditions.from_option(conditions)
    G = ConditionalGenerator(latent_dim, chosen.sizes, image_size=image_size, base_channels=base_channels,
                             channels=channels)
    D = ConditionalDiscriminator(chosen.sizes, image_size=image_size, base_channels=base_channels, channels=channels,
                                 conditioning=discriminator)
    G.conditions = D.conditions = chosen
    return G, D, None


_REGISTRY: dict[str, Entry] = {
    "dcgan": Entry(_dcgan, 100, TANH_RANGE, "PyTorch-tutorial DCGAN (reports 003, 004; notebooks 04, 05)"),
    "keras-gan": Entry(_keras_gan, 100, TANH_RANGE, "Keras DCGAN-style GAN (report 000; notebook 01)"),
    "keras-wgan": Entry(_keras_wgan, 100, TANH_RANGE, "Keras generator + WGAN critic (report 000; notebook 01)",
                        objective="wgan-clip"),
    "keras-vae": Entry(_keras_vae, 512, SIGMOID_RANGE, "Keras convolutional VAE (report 000; notebook 01)",
                       objective="vae", roles=("vae",)),
    "mlp-wgan-gp": Entry(_mlp_wgan_gp, 100, TANH_RANGE, "MLP WGAN-GP (report 001; notebook 02)", objective="wgan-gp"),
    "mlp-gan": Entry(_mlp_gan, 4096, TANH_RANGE, "Dense+upsampling generator, MLP discriminator (report 002; "
                                                  "notebook 03)"),
    "ddpm-unet": Entry(_ddpm_unet, 0, TANH_RANGE, "DDPM with a small U-Net, sampled with DDIM (report 004's next "
                                                  "iteration; notebook 06)", objective="diffusion",
                       roles=("denoiser",)),
    "cdcgan": Entry(_cdcgan, 100, TANH_RANGE, "Conditional DCGAN: one-hot attributes into G, projection or concat "
                                              "discriminator (reports 000 and 002's future work; notebook 07)",
                    objective="cgan", conditional=True),
}


def names() -> list[str]:
    """Names of the registered models, in notebook order."""
    return list(_REGISTRY)


def describe() -> dict[str, str]:
    """One line per registered model: which report and notebook it reproduces."""
    return {name: e.description for name, e in _REGISTRY.items()}


def options(name: str) -> dict[str, Any]:
    """The architecture options ``build(name, **options)`` accepts, with their defaults."""
    params = list(inspect.signature(entry(name).builder).parameters.values())[2:]
    return {p.name: p.default for p in params}


def entry(name: str) -> Entry:
    """The registry entry of a model: builder, default latent size, value range, default objective."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}{suggest(name, _REGISTRY)}; choose one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def default_latent_dim(name: str, image_size: int = 64, **options_: Any) -> int:
    """The model's own latent size: the report's (a conditional model adds one condition coordinate per attribute),
    or for a diffusion model the size of its starting noise."""
    model = entry(name)
    if model.conditional:
        from facegen_utils.conditioning import Conditions

        return model.latent_dim + len(Conditions.from_option(options_.get("conditions")).attributes)
    return model.latent_dim or int(options_.get("channels", 3)) * image_size ** 2


def build(name: str, *, image_size: int = 64, latent_dim: int | None = None, **options_: Any) -> ModelSet:
    """Build the networks of a registered model at ``image_size`` (default latent size of the report if None)."""
    model = entry(name)
    accepted = options(name)
    unknown = sorted(set(options_) - set(accepted))
    if unknown:
        raise TypeError(
            f"build({name!r}) got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"accepted: image_size, latent_dim, {', '.join(accepted)}"
        )
    check_int("latent_dim", latent_dim, 1, optional=f"the model's default, {model.latent_dim}")
    latent_dim = default_latent_dim(name, image_size, **options_) if latent_dim is None else latent_dim
    G, D, vae = model.builder(latent_dim, image_size, **options_)
    denoiser = G.model if isinstance(G, DiffusionSampler) else None
    for module in (G, D, vae, denoiser):
        if module is not None:
            module.model_name = name
    return ModelSet(name=name, G=G, D=D, vae=vae, latent_dim=latent_dim, value_range=model.value_range,
                    image_size=image_size, options=dict(options_), denoiser=denoiser)
