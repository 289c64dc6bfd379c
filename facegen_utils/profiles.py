"""Hyperparameters of the notebooks as data: each report's exact setting and two shrunk profiles.

Three profiles per notebook:

- ``"report"``: the report's own hyperparameters on the real dataset (GPU batch runs with papermill).
  Sources: report 000 (anime faces; WGAN after Arjovsky et al. 2017, Algorithm 1), report 001 (art portraits,
  MLP WGAN-GP after Gulrajani et al. 2017), report 002 (CelebA, Keras MLP GAN), report 003 (Monet, the
  PyTorch DCGAN tutorial after Radford et al. 2016, label smoothing and seven noise priors) and report 004
  (CelebA, the same DCGAN). Values a report does not print come from the code it follows; ``notes`` says so.
  Notebook 06 carries out report 004's announced next step (diffusion), for which no report prints a setting: its
  report profile is Ho et al.'s (2020) CIFAR-10 model at 64x64 on CelebA.
- ``"quick"``: the procedural data, each notebook in at most three minutes on a 2-core CPU with faces (paintings)
  visibly emerging (measured in benchmarks/README.md). The layers stay, but images shrink to 32x32, and channel
  widths, the noise size (notebook 03) and the Keras models' BatchNorm momentum may change; ``changes`` lists them.
- ``"smoke"``: seconds; a handful of 16x16 images for one epoch (tests and nbval).

Each table is flat data; :func:`get` turns it into a :class:`Profile`: one validated run specification
(:class:`facegen_utils.spec.RunSpec`: data, model, training) plus the notebook's knobs. ``changes`` lists, for
every profile, what differs from the report setting (computed, so it stays honest after overrides). Notebook 01
trains four models; each is a *variant* ("gan", "vae", "wgan", "wgan-gp").

Environment variables (``ENV_VARS``, read by :func:`from_env`) set the notebooks' parameters, so nbval and
``make run`` can shrink runs without editing them; explicit values win over the environment, which wins over the
profile.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from facegen_utils.spec import (AMP_MODES, COMPILE_MODES, CRITIC_SCHEDULES, OPTIMIZERS, RunSpec, TrainConfig,
                                check_choice, check_int, suggest)

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from facegen_utils.models import ModelSet

__all__ = [
    "NOTEBOOKS", "PROFILES", "VARIANTS", "ENV_VARS", "OBJECTIVES", "OPTIMIZERS", "CRITIC_SCHEDULES", "AMP_MODES",
    "COMPILE_MODES", "DATASETS", "REPORT_003_PRIORS", "DEFAULT_CONDITIONS", "Profile", "get", "from_env", "env_defaults",
    "resolve_notebook", "parse_spec", "suggest", "epochs_for_iterations",
]

#: notebook number -> notebook name (the file is ``notebooks/<name>.ipynb``)
NOTEBOOKS: dict[str, str] = {
    "01": "01_anime_faces_gan_vae_wgan",
    "02": "02_art_portraits_wgan_gp",
    "03": "03_celeba_mlp_gan",
    "04": "04_monet_dcgan_noise_study",
    "05": "05_celeba_dcgan",
    "06": "06_celeba_diffusion_vs_dcgan",
    "07": "07_conditional_dcgan",
}

PROFILES: tuple[str, ...] = ("smoke", "quick", "report")

#: the models each notebook trains; the first is the default variant
VARIANTS: dict[str, tuple[str, ...]] = {
    "01": ("gan", "vae", "wgan", "wgan-gp"),
    "02": ("wgan-gp",),
    "03": ("gan",),
    "04": ("gan",),
    "05": ("gan",),
    "06": ("ddpm",),
    "07": ("projection", "concat"),
}

#: model name -> (notebook, variant) it belongs to, so ``get("dcgan", "report")`` works too
_MODEL_HOME: dict[str, tuple[str, str]] = {
    "keras-gan": ("01", "gan"),
    "keras-vae": ("01", "vae"),
    "keras-wgan": ("01", "wgan"),
    "mlp-wgan-gp": ("02", "wgan-gp"),
    "mlp-gan": ("03", "gan"),
    "dcgan": ("05", "gan"),
    "ddpm-unet": ("06", "ddpm"),
    "cdcgan": ("07", "projection"),
}

#: the conditions notebook 07 uses on a dataset when none are given (a changed dataset brings its own)
DEFAULT_CONDITIONS: dict[str, tuple[str, ...]] = {"synthetic-faces": ("hair_color", "hair_style"),
                                                  "celeba": ("Male", "Eyeglasses", "Smiling")}

#: report 003's seven noise priors; the second argument of ``normal`` is the variance
REPORT_003_PRIORS: tuple[str, ...] = (
    "uniform(-1, 1)", "normal(0, 1)", "gamma(2, 1)", "normal(-1, 1)", "normal(1, 1)", "normal(0, 0.01)",
    "normal(0, 100)",
)

#: environment variable -> parameter it sets (see the module docstring)
ENV_VARS: dict[str, str] = {
    "FACEGEN_PROFILE": "profile",         # smoke / quick / report
    "FACEGEN_DATASET": "dataset",         # synthetic-faces, celeba
    "FACEGEN_DATA_DIR": "data_dir",       # data/celeba
    "FACEGEN_IMAGE_SIZE": "image_size",   # 32
    "FACEGEN_EPOCHS": "epochs",           # 1
    "FACEGEN_BATCH_SIZE": "batch_size",   # 16
    "FACEGEN_LIMIT": "limit",             # 64 (first N images; none for all)
    "FACEGEN_SEED": "seed",               # 0
    "FACEGEN_DEVICE": "device",           # auto, cpu, cuda, cuda:1, mps
    "FACEGEN_AMP": "amp",                 # bf16 (GPU autocast; off: float32)
    "FACEGEN_COMPILE": "compile_mode",    # reduce-overhead (torch.compile; none)
    "FACEGEN_OUTPUT_DIR": "output_dir",   # outputs (each notebook writes into its own sub-folder)
}
_ENV_INT = {"image_size", "epochs", "batch_size", "limit", "seed"}
_ENV_NONE = {("limit", "none"), ("limit", "all"), *(("compile_mode", w) for w in ("none", "off", "0", "false"))}
#: settings of a profile that are not part of the run specification
_NOTEBOOK_FIELDS = ("output_dir", "compile_mode")


def __getattr__(name: str) -> tuple[str, ...]:
    """``OBJECTIVES`` and ``DATASETS``: the names registered in the engine and the dataset registry."""
    if name == "OBJECTIVES":
        from facegen_utils.training import objectives

        return objectives.names()
    if name == "DATASETS":
        from facegen_utils import datasets

        return tuple(datasets.names())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Profile:
    """One notebook's (and variant's) complete setting: its run specification plus the notebook's own knobs.

    Every setting of the run reads as an attribute (``profile.epochs``, ``profile.model``, ``profile.dataset``),
    and so does every knob (``profile.priors``).
    """

    notebook: str                       # "01" .. "07"
    profile: str                        # "smoke" | "quick" | "report"
    variant: str                        # the model of the notebook this setting trains (see VARIANTS)
    spec: RunSpec                       # data, model and training settings (facegen_utils.spec)
    output_dir: str | None = None       # where the notebook writes figures, checkpoints and CSVs
    knobs: dict[str, Any] = field(default_factory=dict)  # the notebook's own parameters (e.g. priors)
    changes: tuple[str, ...] = ()       # what differs from the report setting, one line each
    notes: tuple[str, ...] = ()         # where values the report does not print come from

    def __getattr__(self, name: str) -> Any:
        """Give the run's flat settings and the notebook knobs as attributes (``profile.epochs``)."""
        if name.startswith("_") or "spec" not in self.__dict__:
            raise AttributeError(name)
        values = self.as_dict()
        if name in values:
            return values[name]
        known = [f.name for f in dataclasses.fields(Profile)] + list(values)
        raise AttributeError(f"Profile has no field or knob {name!r}{suggest(name, known)}")

    @property
    def notebook_name(self) -> str:
        """The notebook's file stem, e.g. ``05_celeba_dcgan``."""
        return NOTEBOOKS[self.notebook]

    def as_dict(self) -> dict[str, Any]:
        """The run's flat settings, ``compile_mode``, ``output_dir`` and the knobs as one flat dict."""
        compile_mode = self.spec.train.compile
        return {**self.spec.flat(), "compile_mode": compile_mode if isinstance(compile_mode, str) else None,
                "output_dir": self.output_dir, **self.knobs}

    def replace(self, **overrides: Any) -> "Profile":
        """A copy with run settings and knobs changed (validated again); use :func:`get` to list them as changes."""
        knobs = {k: _check_knob(self.notebook, k, v) for k, v in overrides.items() if k in self.knobs}
        flat = {k: v for k, v in overrides.items() if k not in knobs}
        return dataclasses.replace(self, spec=self.spec.replace(**flat), knobs={**self.knobs, **knobs})

    def train_config(self, **overrides: Any) -> TrainConfig:
        """The :class:`~facegen_utils.spec.TrainConfig` of this profile; keywords override its fields."""
        return TrainConfig.from_dict({**dataclasses.asdict(self.spec.train), **overrides})

    def build_models(self, **options: Any) -> "ModelSet":
        """This profile's networks, initialised from its seed (keywords add model options)."""
        return self.spec.build_models(**options)

    def load_dataset(self, **options: Any) -> "Dataset":
        """This profile's dataset at the model's image size and in the model's value range."""
        return self.spec.load_dataset(**options)


def resolve_notebook(name: str | int) -> tuple[str, str | None]:
    """Map ``"05"``, ``5``, ``"05_celeba_dcgan"``, ``"01/wgan"`` or a model name to (notebook, variant or None)."""
    text = str(name).strip()
    variant: str | None = None
    if "/" in text:
        text, variant = text.split("/", 1)
    if text in _MODEL_HOME and variant is None:
        return _MODEL_HOME[text]
    key = next((number for number, stem in NOTEBOOKS.items()
                if text in (stem, f"{stem}.ipynb") or text.isdigit() and int(text) == int(number)), None)
    if key is None:
        accepted = [*NOTEBOOKS, *NOTEBOOKS.values(), *_MODEL_HOME]
        raise ValueError(f"unknown notebook {name!r}{suggest(text, accepted)}; accepted: "
                         f"{', '.join(NOTEBOOKS)} (or a notebook name such as {NOTEBOOKS['05']!r}, "
                         f"or a model name: {', '.join(_MODEL_HOME)})")
    if variant is not None:
        check_choice(f"variant of notebook {key}", variant, VARIANTS[key])
    return key, variant


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """Split ``"NOTEBOOK[/VARIANT][:PROFILE]"`` (e.g. ``"01/wgan:report"``) into (notebook, variant, profile)."""
    text, _, profile = str(spec).partition(":")
    notebook, variant = resolve_notebook(text)
    profile = profile or "quick"
    check_choice("profile", profile, PROFILES)
    return notebook, variant, profile


_TF_DCGAN_NOTE = ("report 000 prints neither learning rate, batch size, noise size nor kernel size: values of the "
                  "TensorFlow DCGAN tutorial whose train_step the report reproduces (Adam 1e-4, batch 256, z=100); "
                  "kernel size 4 is a parameter (model option kernel_size)")
_REPORT: dict[tuple[str, str], dict[str, Any]] = {
    ("01", "gan"): dict(
        dataset="anime", image_size=64, model="keras-gan", latent_dim=100, model_options={"kernel_size": 4},
        objective="gan", epochs=200, batch_size=256, lr=1e-4, betas=(0.9, 0.999), optimizer="adam",
        knobs={"models": VARIANTS["01"], "comparison_epochs": (10, 30, 100, 200)},
        notes=(_TF_DCGAN_NOTE, "GAN compared at 10, 30, 100 and 200 epochs as in the report"),
    ),
    ("01", "vae"): dict(
        dataset="anime", image_size=64, model="keras-vae", latent_dim=512, model_options={"kernel_size": 4},
        objective="vae", epochs=30, batch_size=128, lr=1e-3, betas=(0.9, 0.999), optimizer="adam",
        vae_beta=1.0, vae_reconstruction="bce",
        knobs={"models": VARIANTS["01"], "comparison_epochs": (10, 30)},
        notes=("report 000's VAE follows the Keras VAE example (Sampling layer, z_mean/z_log_var, BCE "
               "reconstruction + KL); it prints no training settings: Keras Adam defaults (lr 1e-3), batch 128 "
               "and 30 epochs of that example",),
    ),
    ("01", "wgan"): dict(
        dataset="anime", image_size=64, model="keras-wgan", latent_dim=100, model_options={"kernel_size": 4},
        objective="wgan-clip", epochs=50, batch_size=64, lr=5e-5, betas=(0.9, 0.999), optimizer="rmsprop",
        n_critic=5, critic_schedule="inner", clip_value=0.01,
        knobs={"models": VARIANTS["01"], "comparison_epochs": (10, 20, 50)},
        notes=("Arjovsky et al. 2017, Algorithm 1 defaults printed in report 000: RMSProp lr 5e-5, c = 0.01, "
               "m = 64, n_critic = 5", "WGAN compared at 10, 20 and 50 epochs as in the report"),
    ),
    ("01", "wgan-gp"): dict(
        dataset="anime", image_size=64, model="keras-wgan", latent_dim=100, model_options={"kernel_size": 4},
        objective="wgan-gp", epochs=50, batch_size=64, lr=1e-4, betas=(0.0, 0.9), optimizer="adam",
        n_critic=5, critic_schedule="inner", gp_weight=10.0,
        knobs={"models": VARIANTS["01"], "comparison_epochs": (10, 20, 50)},
        notes=("report 000's training section describes the gradient penalty without settings: Gulrajani et al. "
               "2017, Algorithm 1 defaults (Adam lr 1e-4, betas (0, 0.9), lambda 10, n_critic 5)",),
    ),
    ("02", "wgan-gp"): dict(
        dataset="art-portraits", image_size=64, model="mlp-wgan-gp", latent_dim=100,
        objective="wgan-gp", epochs=500, batch_size=64, lr=1e-4, betas=(0.0, 0.9), optimizer="adam",
        n_critic=5, critic_schedule="every-nth", gp_weight=10.0, sample_every=5, checkpoint_every=5,
        keep_checkpoints=True,
        knobs={"more_epochs": 500},
        notes=("report 001's code: critic on every batch, generator on every 5th; checkpoints and loss lists every "
               "5 epochs; trained 500 epochs at a time (about 11 h each on the authors' GPU) up to 2,500",),
    ),
    ("03", "gan"): dict(
        dataset="celeba", image_size=64, model="mlp-gan", latent_dim=4096,
        objective="gan", epochs=6, batch_size=256, lr=2e-4, betas=(0.5, 0.999), optimizer="adam",
        notes=("report 002 prints batch 256, noise dim 4096 (16,781,312 weights in the first Dense layer) and "
               "6 epochs; its optimiser is not printed: Adam(2e-4, beta1 0.5) of the Keras-GAN code it cites [8]",),
    ),
    ("04", "gan"): dict(
        dataset="monet", image_size=64, model="dcgan", latent_dim=100,
        objective="gan", epochs=200, batch_size=128, lr=2e-4, betas=(0.5, 0.999), optimizer="adam",
        real_label=0.8, fake_label=0.1,
        knobs={"priors": REPORT_003_PRIORS, "iterations_per_prior": 400},
        notes=("report 003: lr 2e-4, Adam(0.5, 0.999), labels 0.8 / 0.1, training stopped after 400 iterations "
               "per noise distribution; batch size not printed: 128 of the PyTorch DCGAN tutorial it follows",
               "epochs = the epochs that hold iterations_per_prior steps: 300 paintings in full batches of 128 are 2 "
               "steps per epoch, so 400 iterations are 200 epochs"),
    ),
    ("05", "gan"): dict(
        dataset="celeba", image_size=64, model="dcgan", latent_dim=100,
        objective="gan", epochs=50, batch_size=128, lr=1e-4, betas=(0.5, 0.999), optimizer="adam",
        knobs={"grid_epochs": (1, 10, 20, 30, 40, 50)},
        notes=("report 004: 50 epochs, batch 128, lr 1e-4, Adam(0.5, 0.999), BCE, 64x64 in [-1, 1]; grids at "
               "the end of epochs 1, 10, 20, 30, 40, 50",),
    ),
    # report 004 names diffusion as its next iteration but prints no setting: this is Ho et al.'s (2020) CIFAR-10
    # model (128 channels, 2 residual blocks per level, attention at 16x16, dropout 0.1, lr 2e-4, batch 128, EMA
    # 0.9999, linear schedule, T = 1000) with a fourth level for 64 px, trained 20 CelebA epochs (31,660 steps)
    ("06", "ddpm"): dict(
        dataset="celeba", image_size=64, model="ddpm-unet", objective="diffusion", epochs=20, batch_size=128,
        lr=2e-4, betas=(0.9, 0.999), optimizer="adam", ema=0.9999, sample_every=1,
        model_options={"base_channels": 128, "channel_mults": (1, 2, 2, 2), "blocks": 2, "attention_size": 16,
                       "dropout": 0.1},
        knobs={"sampling_steps": (10, 25, 50, 100, 1000), "ddpm_steps": (100, 1000), "eval_samples": 2000,
               "gan_checkpoint": None},
        notes=("no report prints a diffusion setting: Ho et al. (2020), appendix B (CIFAR-10: 35.7 M parameters, "
               "lr 2e-4, batch 128, EMA 0.9999, 800k steps), with a fourth resolution level for 64x64 CelebA as in "
               "Song et al.'s (2021) CelebA model; 20 epochs (31,660 steps) fit one GPU in hours",),
    ),
    # reports 000 and 002 name conditional GANs as future work without a setting: notebook 05's DCGAN (report 004)
    # with one-hot attributes into G and a projection discriminator (Miyato & Koyama 2018), the PyTorch tutorial's
    # Adam(2e-4, 0.5), on three CelebA annotations with a clear visual effect
    **{("07", variant): dict(
        dataset="celeba", image_size=64, model="cdcgan", conditions=DEFAULT_CONDITIONS["celeba"],
        objective="cgan", epochs=20, batch_size=128, lr=2e-4, betas=(0.5, 0.999), optimizer="adam",
        model_options={"discriminator": variant},
        knobs={"models": VARIANTS["07"], "eval_samples": 500, "judge_epochs": 5, "baseline_checkpoint": None},
        notes=(note,)) for variant, note in (
        ("projection", "no report prints a conditional setting: the DCGAN of report 004 at the PyTorch tutorial's lr "
                       "2e-4, conditioned on Male, Eyeglasses and Smiling; 20 CelebA epochs fit one GPU in about an "
                       "hour"),
        ("concat", "the same generator and budget as the projection variant; the discriminator reads the one-hot "
                   "attributes as extra image planes (Mirza & Osindero 2014, in convolutional form)"))},
}

# Keras' BatchNorm momentum (0.01 in PyTorch terms) leaves the running statistics near their initial values after
# the few hundred steps of a quick run, so eval-mode samples come out grey; PyTorch's default 0.1 follows the data.
_QUICK_BN = 0.1
_SMOKE_COMMON: dict[str, Any] = dict(image_size=16, limit=32, batch_size=16, epochs=1, sample_every=1,
                                     checkpoint_every=1)
_SHRUNK: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
    "quick": {
        # half the report's width (base_channels 16, as the WGANs) at batch 32: precision / coverage 0.48 / 0.29,
        # 0.79 / 0.49 and 0.77 / 0.59 after 10, 20 and 25 epochs in 91 s (one thread, 512 samples); the full width
        # at batch 64 took 157 s for 0.72 / 0.55 after 20 epochs and held notebook 01 at its budget's edge
        ("01", "gan"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=25, batch_size=32,
                            lr=4e-4, betas=(0.5, 0.999), model_options={"base_channels": 16, "bn_momentum": _QUICK_BN},
                            knobs={"comparison_epochs": (5, 10, 25)}),
        ("01", "vae"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=4, batch_size=64,
                            latent_dim=64, model_options={"bn_momentum": _QUICK_BN},
                            knobs={"comparison_epochs": (1, 2, 4)}),
        # clip 0.05 and one critic step per generator step: precision / coverage 0.44 / 0.31, 0.75 / 0.59 and
        # 0.82 / 0.72 after 5, 10 and 20 epochs (one thread, 512 samples); Algorithm 1's clip 0.01 with n_critic 2
        # reached 0.38 / 0.31 after 10 and lr 1e-3 did not help: the clipped critic, not the step, held it back
        ("01", "wgan"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=10, batch_size=32,
                             lr=5e-4, n_critic=1, clip_value=0.05,
                             model_options={"base_channels": 16, "bn_momentum": _QUICK_BN},
                             knobs={"comparison_epochs": (2, 5, 10)}),
        # lr 1e-3: precision / coverage 0.49 / 0.33, 0.67 / 0.54 and 0.77 / 0.61 after 8, 12 and 16 epochs (one thread,
        # 512 samples; 2.2 s an epoch); at 3e-4, 0.14 / 0.08 after 8 and 0.32 / 0.24 after 16
        ("01", "wgan-gp"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=16, batch_size=32,
                                lr=1e-3, n_critic=2,
                                model_options={"base_channels": 16, "bn_momentum": _QUICK_BN},
                                knobs={"comparison_epochs": (4, 8, 16)}),
        # 20 + 5 epochs at lr 2e-4: coverage 0.64 at epoch 25 (10 + 5 at 1e-4: 0.10)
        ("02", "wgan-gp"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=20, batch_size=32,
                                lr=2e-4, sample_every=1, checkpoint_every=5, knobs={"more_epochs": 5}),
        # a 100-dimensional noise: with the report's 4096 the first Dense layer (4096 x 1024 weights at 32 px)
        # still makes noisy silhouettes after a thousand steps, as the report's own run did after 4,700
        # 48 epochs: precision 0.45, coverage 0.36 (16: 0.09 / 0.06); eval- and train-mode samples score the same,
        # so the colour swings between epochs come from the game with the MLP critic, not from BatchNorm statistics.
        # Decoupled weight decay on G (2.0; D none): 0.65 / 0.63, FID 25 after 48 epochs against 0.35 / 0.32, FID 39
        # without (1,000 samples, one thread; decay 1.0 0.53 / 0.49, 4.0 0.52 / 0.49, benchmarks/README.md). An
        # average of G's weights (EMA 0.995) on top: 0.70 / 0.70, FID 21.4; seed 1: 0.68 / 0.68 against 0.65 / 0.58
        # without, an average of 0.99 0.66 / 0.66, of 0.998 0.46 / 0.51 (one thread; the notebook at two threads:
        # 0.62 / 0.64, FID 22.4, its raw generator 0.52 / 0.50, FID 29.1)
        ("03", "gan"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=48, batch_size=32,
                            latent_dim=100, lr_D=1e-4, weight_decay=2.0, weight_decay_D=0.0, ema=0.995,
                            model_options={"conv_channels": 64, "bn_momentum": _QUICK_BN}),
        # the report's 300 paintings for 675 iterations, with the shipped 04 generators' step (labels 1 / 0, Adam's
        # beta1 = 0, DiffAugment's translation, random flips): coverage 0.17 / 0.17 / 0.14 / 0.28 for U(-1, 1), N(0, 1),
        # N(0, 0.01), N(0, 100), FID 21-27, while Gamma(2, 1) and N(+-1, 1) repeat (93-100 % near-duplicates) (the
        # notebook, two threads, 300 against 300; one thread: 0.29 / 0.38 / 0.35 / 0.41). The report's step in the same
        # run: 0.07 / 0.14 / 0.13 / 0.19; lr 3e-4 and 4e-4: 0.17-0.30 (one thread). The report's step on 1,024
        # paintings for 224 iterations, the profile before, drew coloured fog: coverage <= 0.003 (benchmarks/README.md)
        ("04", "gan"): dict(dataset="synthetic-paintings", image_size=32, limit=300, epochs=75, batch_size=32,
                            lr=6e-4, betas=(0.0, 0.99), real_label=1.0, fake_label=0.0, augment="translation",
                            hflip=True, model_options={"base_channels": 16},
                            knobs={"iterations_per_prior": 675}),
        # 40 epochs at lr 4e-4 reach precision 0.91, coverage 0.66 (lr 2e-4: 0.86 / 0.61; 15 epochs: 0.49 / 0.07)
        ("05", "gan"): dict(dataset="synthetic-faces", image_size=32, limit=2048, epochs=40, batch_size=64,
                            lr=4e-4, model_options={"base_channels": 32},
                            knobs={"grid_epochs": (1, 5, 10, 20, 30, 40)}),
        # batch 16 at lr 1e-3 (64 samples, DDIM-50): 4 epochs (256 steps) precision 0.02, coverage 0.08; 8 epochs
        # 0.92 / 0.61 but past the budget with the comparison; batch 64 for 4 epochs: 0.07 / 0.02. DDIM in 25
        # steps for this run's grids and scores (on the shipped U-Net as good as 50: 0.98 / 0.95 and 0.97 / 0.94)
        ("06", "ddpm"): dict(dataset="synthetic-faces", image_size=32, limit=1024, epochs=6, batch_size=16,
                             lr=1e-3, ema=None, grid_size=16, sample_every=2,
                             model_options={"base_channels": 32, "channel_mults": (1, 2, 2), "blocks": 1,
                                            "attention_size": 8, "dropout": 0.0, "sample_steps": 25},
                             knobs={"sampling_steps": (10, 25, 50), "ddpm_steps": (25,), "eval_samples": 64}),
        **{("07", variant): dict(dataset="synthetic-faces", conditions=("hair_color", "hair_style"), image_size=32,
                                 limit=2048, epochs=25, batch_size=64, lr=4e-4,
                                 model_options={"base_channels": 32, "discriminator": variant},
                                 knobs={"eval_samples": 100}) for variant in VARIANTS["07"]},
    },
    "smoke": {
        ("01", "gan"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, knobs={"comparison_epochs": (1,)}),
        ("01", "vae"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, latent_dim=16,
                            knobs={"comparison_epochs": (1,)}),
        ("01", "wgan"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, knobs={"comparison_epochs": (1,)}),
        ("01", "wgan-gp"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, knobs={"comparison_epochs": (1,)}),
        ("02", "wgan-gp"): dict(dataset="synthetic-faces", **{**_SMOKE_COMMON, "n_critic": 2},
                                knobs={"more_epochs": 1}),
        ("03", "gan"): dict(dataset="synthetic-faces", **_SMOKE_COMMON),
        ("04", "gan"): dict(dataset="synthetic-paintings", **_SMOKE_COMMON, model_options={"base_channels": 8},
                            knobs={"iterations_per_prior": 2}),
        ("05", "gan"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, model_options={"base_channels": 8},
                            knobs={"grid_epochs": (1,)}),
        ("06", "ddpm"): dict(dataset="synthetic-faces", **_SMOKE_COMMON, ema=None, grid_size=16,
                             model_options={"base_channels": 8, "channel_mults": (1, 2), "blocks": 1,
                                            "attention_size": 8, "dropout": 0.0, "sample_steps": 4},
                             knobs={"sampling_steps": (2, 4), "ddpm_steps": (4,), "eval_samples": 32}),
        **{("07", variant): dict(dataset="synthetic-faces", conditions=("hair_color", "hair_style"), **_SMOKE_COMMON,
                                 model_options={"base_channels": 8, "discriminator": variant},
                                 knobs={"eval_samples": 8, "judge_epochs": 1}) for variant in VARIANTS["07"]},
    },
}


def _base(notebook: str, variant: str, profile: str) -> dict[str, Any]:
    settings = dict(_REPORT[(notebook, variant)])
    settings["model_options"] = dict(settings.get("model_options", {}))
    settings["knobs"] = dict(settings.get("knobs", {}))
    for key, value in (_SHRUNK[profile][(notebook, variant)] if profile != "report" else {}).items():
        settings[key] = {**settings[key], **value} if key in ("model_options", "knobs") else value
    return settings


def _describe(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return str(value)


def _model_defaults(model: str | None) -> dict[str, Any]:
    """The architecture options of a registered model with their defaults ({} for an unknown name)."""
    from facegen_utils import models

    return models.options(model) if model in models.names() else {}


def _changes(report: dict[str, Any], now: dict[str, Any]) -> tuple[str, ...]:
    defaults = {**RunSpec.flat_defaults(), "compile_mode": None}
    report, now = {**defaults, **report}, {**defaults, **now}
    lines = []
    for key in sorted(set(report) | set(now)):
        if key in ("notes", "data_dir", "output_dir", "device", "compile_mode", "compile"):  # same maths
            continue
        old, new = report.get(key), now.get(key)
        if key in ("model_options", "knobs"):
            defaults = _model_defaults(report.get("model")) if key == "model_options" else {}
            for sub in sorted(set(old or {}) | set(new or {})):
                a, b = (old or {}).get(sub, defaults.get(sub)), (new or {}).get(sub, defaults.get(sub))
                if a != b:
                    lines.append(f"{sub}: {_describe(a)} -> {_describe(b)}")
        elif old != new:
            if key == "limit":
                old, new = old or "all", new or "all"
            elif key in ("lr_D", "weight_decay_D"):  # None: TrainConfig.for_role takes the shared setting
                old, new = (f"same as {key[:-2]}" if v is None else v for v in (old, new))
            lines.append(f"{key}: {_describe(old)} -> {_describe(new)}")
    return tuple(lines)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _check_knob(notebook: str, name: str, value: Any) -> Any:
    """A knob's value in its normal form (lists as tuples), or a ValueError that names it."""
    if name in ("comparison_epochs", "grid_epochs", "sampling_steps", "ddpm_steps"):
        value = _as_tuple(value)
        for epoch in value:
            check_int(name, epoch, 1)
    elif name == "models":
        value = _as_tuple(value)
        for variant in value:
            check_choice("models", variant, VARIANTS[notebook])
    elif name in ("gan_checkpoint", "baseline_checkpoint"):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}={value!r} must be None or the path of a checkpoint of notebook 05 "
                             f"(e.g. 'outputs/05_celeba_dcgan/train/checkpoint.pt').")
    elif name == "priors":
        from facegen_utils import noise

        value = _as_tuple(value)
        for prior in value:
            try:
                noise.parse(prior)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"priors: {prior!r} is not a latent distribution ({exc})") from None
    else:  # more_epochs, iterations_per_prior, eval_samples, judge_epochs
        check_int(name, value, 1)
    return value


def get(notebook: str | int, profile: str = "quick", *, variant: str | None = None, **overrides: Any) -> Profile:
    """The setting of ``notebook`` ("01".."05", a notebook name, "01/wgan" or a model name) under ``profile``.

    Keywords override settings (``epochs=2``), model options (``model_options={"base_channels": 8}``, merged)
    and the notebook's knobs (``priors=[...]``). Unknown names or invalid values raise ``ValueError``.
    """
    key, spec_variant = resolve_notebook(notebook)
    check_choice("profile", profile, PROFILES)
    variant = variant or spec_variant or VARIANTS[key][0]
    check_choice(f"variant of notebook {key}", variant, VARIANTS[key])
    settings = _base(key, variant, profile)
    report = _base(key, variant, "report")
    accepted = (*RunSpec.flat_names(), *_NOTEBOOK_FIELDS)
    for name, value in overrides.items():
        if name in ("model_options", "knobs"):
            settings[name].update(dict(value or {}))
        elif name in settings["knobs"]:
            settings["knobs"][name] = value
        elif name in accepted:
            settings[name] = value
        else:
            names = sorted({*accepted, *settings["knobs"]})
            raise ValueError(f"unknown parameter {name!r} for notebook {key} ({NOTEBOOKS[key]})"
                             f"{suggest(name, names)}; accepted: {', '.join(names)}")
    if settings.get("conditions") and "conditions" not in overrides:  # another dataset: its own default conditions
        settings["conditions"] = DEFAULT_CONDITIONS.get(settings["dataset"], settings["conditions"])
    knobs = {name: _check_knob(key, name, value) for name, value in settings.pop("knobs").items()}
    changes = _changes(report, {**settings, "knobs": knobs})
    notes = settings.pop("notes", ())
    output_dir = settings.pop("output_dir", None) or f"outputs/{NOTEBOOKS[key]}"
    if "compile_mode" in settings:  # the notebooks' name: ``compile`` would shadow Python's builtin there
        mode = settings.pop("compile_mode")
        check_choice("compile_mode", mode, (None, *COMPILE_MODES),
                     "None (not compiled), 'default', 'reduce-overhead' (CUDA graphs) or 'max-autotune'")
        settings["compile"] = mode or False
    spec = RunSpec.from_flat(settings)
    return Profile(notebook=key, profile=profile, variant=variant, spec=spec, output_dir=output_dir, knobs=knobs,
                   changes=changes, notes=tuple(notes))


def env_defaults(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The parameters set through ``FACEGEN_*`` environment variables (see ``ENV_VARS``), parsed."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        raw = (environ.get(var) or "").strip()
        if not raw:
            continue
        if (name, raw.lower()) in _ENV_NONE:
            values[name] = None
        elif name in _ENV_INT:
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"environment variable {var}={raw!r} is not a whole number; "
                                 f"unset it or give e.g. {var}=2") from None
        else:
            values[name] = raw
    if "profile" in values:
        check_choice("FACEGEN_PROFILE", values["profile"], PROFILES)
    return values


def from_env(notebook: str | int, *, environ: Mapping[str, str] | None = None, **params: Any) -> Profile:
    """The setting a notebook runs with: explicit ``params`` (None = not given) > ``FACEGEN_*`` > profile default.

    ``profile`` defaults to ``FACEGEN_PROFILE`` and then ``"quick"``; ``variant`` may be passed as for :func:`get`.
    """
    values = {**env_defaults(environ), **{k: v for k, v in params.items() if v is not None}}
    return get(notebook, values.pop("profile", "quick"), variant=values.pop("variant", None), **values)


def epochs_for_iterations(iterations: int, n_images: int, batch_size: int, *, drop_last: bool = True) -> int:
    """The number of epochs that hold at least ``iterations`` steps of ``batch_size`` over ``n_images``.

    The training engine steps on full batches only (``drop_last=True``); ``False`` counts a last partial batch.
    """
    steps = n_images // batch_size if drop_last else math.ceil(n_images / batch_size)
    if steps < 1:
        raise ValueError(f"{n_images} images give no full batch of {batch_size}; lower batch_size")
    return math.ceil(iterations / steps)
