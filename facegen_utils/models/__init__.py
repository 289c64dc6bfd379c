"""Model zoo of the reports: PyTorch-tutorial DCGAN, Keras-style GAN/WGAN/VAE (report 000), MLP GANs (001, 002), and
the DDPM U-Net of report 004's announced next iteration (notebook 06) and the conditional DCGAN (notebook 07).

``build(name, image_size=..., latent_dim=..., **options)`` returns a :class:`ModelSet`; ``summary(model)`` gives a
Keras-style table with the parameter counts the reports printed; ``load_state_dict_checked`` loads weights only into
the architecture they were trained for.
"""
from __future__ import annotations

from .checkpoints import (
    ArchitectureMismatchError,
    check_compatible,
    describe_model,
    guess_architecture,
    load_state_dict_checked,
)
from .conditional import ConditionalDiscriminator, ConditionalGenerator
from .dcgan import Discriminator, Generator, weights_init
from .keras_style import KerasCritic, KerasDiscriminator, KerasGenerator
from .mlp import MLPDiscriminator, MLPGenerator, UpsampleConvGenerator
from .registry import Entry, ModelSet, build, default_latent_dim, describe, entry, names, options
from .summary import format_summary, summary
from .unet import DiffusionModel, DiffusionSampler, UNet
from .vae import ConvVAE, Decoder, Encoder

__all__ = [
    "ArchitectureMismatchError", "ConditionalDiscriminator", "ConditionalGenerator", "ConvVAE", "Decoder", "DiffusionModel", "DiffusionSampler", "Discriminator", "Encoder", "Entry", "Generator",
    "KerasCritic", "KerasDiscriminator", "KerasGenerator", "MLPDiscriminator", "MLPGenerator", "ModelSet",
    "UNet", "UpsampleConvGenerator",
    "build", "check_compatible", "default_latent_dim", "describe", "describe_model", "entry", "format_summary", "guess_architecture",
    "load_state_dict_checked", "names", "options", "summary", "weights_init",
]
