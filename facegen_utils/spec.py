"""The run specification: *what* to train (:class:`ModelSpec`), *on what* (:class:`DataSpec`) and *how*
(:class:`TrainConfig`), as one frozen, validated :class:`RunSpec`.

Notebooks build it through :mod:`facegen_utils.profiles`, the CLI from its options, checkpoints store it and
``Trainer.from_checkpoint`` reads it back. Every setting is checked here once, by one rule per kind, and every
"did you mean" hint comes from :func:`suggest`. The model decides the image size and value range; the data follow
(:meth:`RunSpec.load_dataset`). Flat names (``dataset``, ``model``, ``model_options``, ``epochs`` ...) are the
parameters of notebooks, profiles and the CLI; :meth:`RunSpec.from_flat` sorts them into the three parts.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from facegen_utils.models import ModelSet

__all__ = ["OPTIMIZERS", "CRITIC_SCHEDULES", "AMP_MODES", "GPU_DATASET_MODES", "AUGMENTS", "KEEP_CHECKPOINTS",
           "COMPILE_MODES", "VAE_RECONSTRUCTIONS", "suggest", "check_choice", "check_int", "check_number",
           "check_fields", "TrainConfig", "ModelSpec", "DataSpec", "RunSpec"]

OPTIMIZERS = ("adam", "rmsprop")
CRITIC_SCHEDULES = ("inner", "every-nth")
LR_DECAYS = ("none", "linear", "cosine")
AMP_MODES = ("off", "bf16", "fp16")
GPU_DATASET_MODES = ("auto", "on", "off")
AUGMENTS = ("none", "translation")  # TrainConfig.augment: training.augment
KEEP_CHECKPOINTS = (False, True, "weights", "full")  # True means "weights"
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile modes; True means "default"
VAE_RECONSTRUCTIONS = ("bce", "mse")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def suggest(name: Any, choices: Any) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a misspelt ``name`` among ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _fail(name: str, value: Any, expected: str, hint: str = "") -> None:
    raise ValueError(f"{name}={value!r} is invalid{hint}; expected {expected}")


def check_choice(name: str, value: Any, choices: Sequence[Any], expected: str | None = None) -> None:
    """``value`` must be one of ``choices`` (``expected`` describes them when a plain list would not)."""
    if not any(value == c and type(value) is type(c) for c in choices):
        hint = suggest(value, choices) if isinstance(value, str) else ""
        _fail(name, value, expected or "one of " + ", ".join(map(repr, choices)), hint)


def check_int(name: str, value: Any, minimum: int, *, optional: str = "", power_of_two: bool = False) -> None:
    """A whole number >= ``minimum`` (a power of two if asked); None too when ``optional`` says what None means."""
    if value is None and optional:
        return
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if not ok or (power_of_two and value & (value - 1)):
        kind = f"a power of two >= {minimum} (16, 32, 64, 128 ...)" if power_of_two else f"a whole number >= {minimum}"
        _fail(name, value, f"None ({optional}) or {kind}" if optional else kind)


def check_number(name: str, value: Any, low: float, high: float | None = None, *, low_inclusive: bool = False,
                 high_inclusive: bool = False, example: str = "", optional: str = "") -> None:
    """A number in the interval (``low``, ``high``) with the given closed ends; None too when ``optional``."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value >= low if low_inclusive else value > low)
    ok = ok and (high is None or (value <= high if high_inclusive else value < high))
    if not ok:
        interval = ("[" if low_inclusive else "(") + f"{low:g}, " + (
            "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")"))
        text = f"a number in {interval}" + (f", e.g. {example}" if example else "")
        _fail(name, value, f"None ({optional}) or {text}" if optional else text)


def check_fields(kind: str, values: dict[str, Any], accepted: Sequence[str]) -> None:
    """Raise a ValueError naming every key of ``values`` that is not in ``accepted``, with a hint."""
    unknown = [k for k in values if k not in accepted]
    if unknown:
        hints = ", ".join(f"{k!r}{suggest(k, accepted)}" for k in unknown)
        raise ValueError(f"{kind} has no field {hints}; fields: {', '.join(accepted)}.")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: objective, optimiser, schedule, device features, logging and checkpoints."""

    objective: str = "gan"            # a registered objective (facegen_utils.training.objectives.names())
    epochs: int = 5                   # total number of epochs; fit() continues from the current epoch up to it
    batch_size: int = 128             # images per optimiser step and process
    lr: float = 2e-4                  # learning rate of the generator (and of the VAE)
    lr_D: float | None = None         # learning rate of the discriminator/critic; None -> same as lr
    lr_decay: str = "none"            # learning rate over the run: "none" (constant) | "linear" | "cosine", from lr
                                      #   down to 0 at the last step of `epochs`; a function of the step, so a
                                      #   resumed run follows the same schedule
    betas: tuple[float, float] = (0.5, 0.999)  # Adam's (beta1, beta2); unused by RMSProp
    weight_decay: float = 0.0         # decoupled weight decay (AdamW, Loshchilov & Hutter 2019) of the generator's
                                      #   (and the VAE's, the denoiser's) weights: each step shrinks them by
                                      #   lr * weight_decay; 0 -> plain Adam. Adam only
    weight_decay_D: float | None = None  # the same for the discriminator/critic; None -> same as weight_decay
    optimizer: str = "adam"           # "adam" | "rmsprop" (Arjovsky et al. use RMSProp with weight clipping)
    n_critic: int = 1                 # critic/discriminator steps per generator step
    critic_schedule: str = "inner"    # "inner": n_critic critic steps, each on a new batch, then one generator
                                      #   step (Arjovsky et al., Algorithm 1; counted over all iterations);
                                      # "every-nth": the critic steps on every batch, the generator on batches
                                      #   0, n, 2n, ... of each epoch (report 001's loop)
    clip_value: float = 0.01          # wgan-clip: critic weights are clamped to [-c, c] after each critic step
    gp_weight: float = 10.0           # wgan-gp: lambda, the weight of the gradient penalty
    real_label: float = 1.0           # BCE target of real images, also the generator's target (report 003: 0.8)
    fake_label: float = 0.0           # BCE target of generated images (report 003: 0.1)
    vae_beta: float = 1.0             # vae: weight of the KL term
    vae_reconstruction: str = "bce"   # vae: "bce" (data in [0, 1]) | "mse"
    prior: str = "normal(0, 1)"       # latent distribution (facegen_utils.noise spec; second number: variance)
    seed: int = 0                     # seeds the weights, the data order, the latents, the fixed grid and torch
    device: str = "auto"              # "auto" -> cuda, mps, cpu; or "cpu", "cuda", "cuda:1", "mps"
    amp: str = "off"                  # autocast: "off" | "bf16" | "fp16" (fp16 adds a GradScaler); for GPUs
    channels_last: bool | None = None  # NHWC memory format for models and batches; None -> on for convolutional
                                      #   models on CPU (oneDNN) and CUDA (tensor cores), off otherwise;
                                      #   always off for transposed convolutions compiled on CUDA
    compile: bool | str = False       # torch.compile the networks for the training steps: True or a mode,
                                      #   "default" | "reduce-overhead" (CUDA graphs on a GPU) | "max-autotune"
    cpu_gemm_grad: bool = True        # CPU, float32, no compile: weight gradients of convolution layers with at
                                      #   most 16 positions on their small side (DCGAN's 4x4) as one matrix
                                      #   product, 1.3-2x faster than oneDNN there (training.cpu_conv)
    gpu_dataset: str = "auto"         # keep the uint8 images on the GPU: "auto" (when they fit) | "on" | "off"
    hflip: bool = False               # random horizontal flips of the real images, done on the device
    augment: str = "none"             # differentiable augmentation of every image the critic scores, real and
                                      #   generated, in both networks' steps (Zhao et al. 2020): "none" |
                                      #   "translation" (shifts of up to 1/8 of the side; training.augment)
    # decay of an exponential moving average of G's weights (e.g. 0.999); None -> off. BatchNorm buffers are copied
    # from G, not averaged (statistics re-estimated for the averaged weights scored lower precision, benchmarks/)
    ema: float | None = None
    grid_size: int = 64               # number of fixed latents in the progress grid
    sample_every: int = 1             # save the progress grid every N epochs (and at the last one); 0 -> never
    checkpoint_every: int = 1         # write checkpoint.pt every N epochs; 0 -> only at the end / on interrupt
    keep_checkpoints: bool | str = False  # also keep checkpoint_epoch_XXXX.pt at every epoch checkpoint (report
                                      #   001): True/"weights" -> networks, config, history (no optimiser
                                      #   moments: about a third of the size); "full" -> copies that resume exactly
    out_dir: str | None = None        # where checkpoint.pt, losses.csv and samples/epoch_XXXX.png go; None -> none
    limit: int | None = None          # train on the first N images only (the data spec's limit selects them
                                      #   when the data are loaded; this one cuts a tensor or dataset given as is)
    num_workers: int = 0              # DataLoader workers, for datasets without the uint8 fast path
    log_every: int = 10               # steps between loss read-outs (progress bar, non-finite check); each waits
                                      #   for the GPU, so keep it above 1 on CUDA
    deterministic: bool = False       # torch.use_deterministic_algorithms (slower on GPUs; CPU runs repeat anyway)

    def __post_init__(self) -> None:
        from facegen_utils import noise
        from facegen_utils.training import objectives

        object.__setattr__(self, "betas", tuple(self.betas) if isinstance(self.betas, (list, tuple)) else self.betas)
        check_choice("objective", self.objective, objectives.names())
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_decay", self.lr_decay, LR_DECAYS, "'none' (constant), 'linear' or 'cosine' (to 0 at the "
                     "last epoch)")
        check_choice("critic_schedule", self.critic_schedule, CRITIC_SCHEDULES,
                     "'inner' (Arjovsky et al., Algorithm 1) or 'every-nth' (report 001's loop)")
        check_choice("amp", self.amp, AMP_MODES, "'off' (float32), 'bf16' or 'fp16' (autocast, for GPUs)")
        check_choice("gpu_dataset", self.gpu_dataset, GPU_DATASET_MODES)
        check_choice("augment", self.augment, AUGMENTS, "'none' or 'translation' (DiffAugment, Zhao et al. 2020)")
        if self.augment != "none" and "D" not in objectives.get(self.objective).roles:
            _fail("augment", self.augment, f"'none' for objective={self.objective!r}: it augments what a "
                  f"discriminator/critic sees, and this objective trains none")
        check_choice("vae_reconstruction", self.vae_reconstruction, VAE_RECONSTRUCTIONS)
        check_choice("keep_checkpoints", self.keep_checkpoints, KEEP_CHECKPOINTS,
                     "False, True (= 'weights': networks and history of every checkpoint) or 'full' (complete "
                     "copies that resume)")
        check_choice("compile", self.compile, (False, True, *COMPILE_MODES),
                     "False, True or a torch.compile mode: 'default', 'reduce-overhead' (CUDA graphs on a GPU) or "
                     "'max-autotune'")
        check_choice("channels_last", self.channels_last, (None, False, True), "True, False or None (automatic)")
        for name in ("cpu_gemm_grad", "hflip", "deterministic"):
            check_choice(name, getattr(self, name), (False, True))
        for name in ("epochs", "batch_size", "n_critic", "grid_size", "log_every"):
            check_int(name, getattr(self, name), 1)
        for name in ("sample_every", "checkpoint_every", "num_workers", "seed"):
            check_int(name, getattr(self, name), 0)
        check_int("limit", self.limit, 1, optional="all images")
        check_number("lr", self.lr, 0, 1, example="2e-4")
        check_number("lr_D", self.lr_D, 0, 1, example="2e-4", optional="same as lr")
        check_number("weight_decay", self.weight_decay, 0, low_inclusive=True, example="0.5")
        check_number("weight_decay_D", self.weight_decay_D, 0, low_inclusive=True, example="0",
                     optional="same as weight_decay")
        for name in ("weight_decay", "weight_decay_D"):
            if self.optimizer != "adam" and getattr(self, name):
                _fail(name, getattr(self, name), f"0 with optimizer={self.optimizer!r}: the decoupled weight decay is "
                      f"Adam's (AdamW); use optimizer='adam' or leave weight_decay and weight_decay_D at 0")
        check_number("clip_value", self.clip_value, 0, example="0.01")
        check_number("gp_weight", self.gp_weight, 0, low_inclusive=True, example="10 (Gulrajani et al.)")
        check_number("vae_beta", self.vae_beta, 0, low_inclusive=True, example="1")
        for name in ("real_label", "fake_label"):
            check_number(name, getattr(self, name), 0, 1, low_inclusive=True, high_inclusive=True,
                         example="0.8 and 0.1 (report 003)")
        check_number("ema", self.ema, 0, 1, example="0.999", optional="off")
        if not (isinstance(self.betas, tuple) and len(self.betas) == 2):
            _fail("betas", self.betas, "two numbers in [0, 1), e.g. (0.5, 0.999)")
        for beta in self.betas:
            check_number("betas", beta, 0, 1, low_inclusive=True, example="(0.5, 0.999)")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            _fail("device", self.device, "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        try:
            noise.parse(self.prior)
        except (ValueError, TypeError) as exc:
            _fail("prior", self.prior, f"a latent distribution such as 'normal(0, 1)' ({exc})")

    def for_role(self, name: str, role: str) -> Any:
        """Setting ``name`` (``"lr"``, ``"weight_decay"``) for network ``role``: D's own ``name_D`` when set, else
        the shared value."""
        own = getattr(self, f"{name}_D") if role == "D" else None
        return getattr(self, name) if own is None else own

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build a config from a dict (e.g. a checkpoint's), with a clear error for unknown names."""
        check_fields("TrainConfig", values, [f.name for f in dataclasses.fields(cls)])
        return cls(**values)


@dataclass(frozen=True)
class ModelSpec:
    """Which registered model, at which size: it fixes the image shape and value range the data must have."""

    name: str = "dcgan"               # a registered model (facegen_utils.models.names())
    image_size: int = 64              # square images of this side (a power of two)
    latent_dim: int | None = None     # None -> the model's own default (e.g. 100 for DCGAN)
    options: dict[str, Any] = field(default_factory=dict)  # architecture keywords of models.build

    def __post_init__(self) -> None:
        from facegen_utils import models

        check_choice("model", self.name, models.names())
        check_int("image_size", self.image_size, 8, power_of_two=True)
        check_int("latent_dim", self.latent_dim, 1, optional="the model's default")
        check_fields(f"model {self.name!r}", self.options, list(models.options(self.name)))
        if self.latent_dim is None:
            object.__setattr__(self, "latent_dim", models.default_latent_dim(self.name, self.image_size,
                                                                             **self.options))

    @property
    def value_range(self) -> tuple[float, float]:
        """The interval the generator's images live in (tanh: (-1, 1); sigmoid: (0, 1))."""
        from facegen_utils import models

        return models.entry(self.name).value_range

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint's ``model_spec``: name, image_size, latent_dim, options."""
        return {"name": self.name, "image_size": self.image_size, "latent_dim": self.latent_dim,
                "options": dict(self.options)}

    def build(self, *, seed: int | None = None) -> "ModelSet":
        """The networks, initialised from ``seed`` when given (torch's global random state is left as it was)."""
        import torch

        from facegen_utils import models

        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            return models.build(self.name, image_size=self.image_size, latent_dim=self.latent_dim, **self.options)


@dataclass(frozen=True)
class DataSpec:
    """Which dataset: a registered name, its folder (real data) and how many images."""

    name: str = "synthetic-faces"     # a registered dataset (facegen_utils.datasets.names())
    data_dir: str | None = None       # folder of a real dataset; None -> the dataset's own default (data/<name>)
    limit: int | None = None          # the first N images (procedural data: how many are rendered)
    conditions: tuple[str, ...] = ()  # attributes whose labels come with the images (a conditional model's input)

    def __post_init__(self) -> None:
        from facegen_utils import datasets

        check_choice("dataset", self.name, datasets.names())
        check_int("limit", self.limit, 1, optional="all images")
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))
        conditions = (self.conditions,) if isinstance(self.conditions, str) else tuple(self.conditions or ())
        object.__setattr__(self, "conditions", conditions)
        if conditions:
            from facegen_utils.conditioning import schema

            schema(self.name, conditions)  # a clear error for an unknown attribute or an unlabelled dataset


#: flat name -> (part, field) for the names that are not TrainConfig fields
_FLAT: dict[str, tuple[str, str]] = {
    "dataset": ("data", "name"), "data_dir": ("data", "data_dir"), "limit": ("data", "limit"),
    "conditions": ("data", "conditions"),
    "model": ("model", "name"), "image_size": ("model", "image_size"), "latent_dim": ("model", "latent_dim"),
    "model_options": ("model", "options"),
}
_TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _FLAT)


@dataclass(frozen=True)
class RunSpec:
    """One run: the data, the model and the training settings, each validated."""

    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainConfig = field(default_factory=TrainConfig)

    @staticmethod
    def flat_names() -> tuple[str, ...]:
        """Every flat setting name: data and model names, then the TrainConfig fields."""
        return (*_FLAT, *_TRAIN_FIELDS)

    @staticmethod
    def flat_defaults() -> dict[str, Any]:
        """The default of every flat setting."""
        defaults = {(part, f.name): f.default_factory() if f.default is dataclasses.MISSING else f.default
                    for part, kind in (("data", DataSpec), ("model", ModelSpec)) for f in dataclasses.fields(kind)}
        values = {name: defaults[where] for name, where in _FLAT.items()}
        values.update({f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in _TRAIN_FIELDS})
        return values

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> "RunSpec":
        """Sort flat settings (``dataset``, ``model``, ``epochs`` ...) into the three parts and validate them.

        ``objective`` defaults to the model's own (``models.entry(name).objective``); unknown names raise with a hint.
        """
        from facegen_utils import models
        from facegen_utils.training import objectives

        check_fields("the run specification", values, cls.flat_names())
        parts: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
        for name, value in values.items():
            part, key = _FLAT.get(name, ("train", name))
            parts[part][key] = dict(value or {}) if name == "model_options" else value
        data = DataSpec(**parts["data"])
        name = parts["model"].get("name", "dcgan")  # an unknown name: ModelSpec below names the error
        if name in models.names() and models.entry(name).conditional != bool(data.conditions):
            raise ValueError(f"model {name!r} " + (
                "is conditional: name the attributes it is told with conditions=('hair_color', 'hair_style')"
                if models.entry(name).conditional else "is not conditional: conditions= need model 'cdcgan'"))
        if data.conditions:  # the model learns the values the data's labels have
            from facegen_utils.conditioning import schema

            parts["model"]["options"] = {**parts["model"].get("options", {}),
                                         "conditions": schema(data.name, data.conditions).as_option()}
        model = ModelSpec(**parts["model"])
        parts["train"].setdefault("objective", models.entry(model.name).objective)
        train = TrainConfig(**parts["train"])
        objectives.check_compatible(train.objective, model.name)
        return cls(data, model, train)

    def flat(self) -> dict[str, Any]:
        """The settings as one flat dict (the inverse of :meth:`from_flat`)."""
        values = {name: getattr(getattr(self, part), key) for name, (part, key) in _FLAT.items()}
        values["model_options"] = dict(self.model.options)
        values.update({name: getattr(self.train, name) for name in _TRAIN_FIELDS})
        return values

    def replace(self, **flat: Any) -> "RunSpec":
        """A copy with some flat settings changed (validated again)."""
        return RunSpec.from_flat({**self.flat(), **flat})

    def build_models(self, **options: Any) -> "ModelSet":
        """The model's networks, initialised from the run's seed (keywords add model options)."""
        spec = dataclasses.replace(self.model, options={**self.model.options, **options}) if options else self.model
        return spec.build(seed=self.train.seed)

    def load_dataset(self, **options: Any) -> "Dataset":
        """The data at the model's image size and in its value range (keywords: the dataset's own options)."""
        from facegen_utils import datasets

        if self.data.conditions and self.data.name == "celeba":
            options.setdefault("return_attributes", True)  # a missing attribute file: an error with its download
        dataset = datasets.get(self.data.name, data_dir=self.data.data_dir, image_size=self.model.image_size,
                               value_range=self.model.value_range, limit=self.data.limit, **options)
        if not self.data.conditions:
            return dataset
        from facegen_utils.conditioning import labelled, schema

        return labelled(dataset, schema(self.data.name, self.data.conditions))
