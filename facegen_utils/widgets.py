"""Latent-space explorers for Jupyter: sliders that let a student feel what a generator has learned.

``latent_explorer(G)`` shows the image (or a grid) of a base latent and moves chosen latent dimensions, changes the
seed, walks from one seed to another by linear or spherical interpolation (White 2016, "Sampling Generative
Networks"), switches among the seven noise priors of report 003 (the Monet DCGAN's noise study) and applies the
truncation trick (Brock, Donahue and Simonyan 2019, BigGAN). Small moves giving smooth changes is the check Radford,
Metz and Chintala (2016, DCGAN) used to argue that a generator has not memorised its data. ``vae_explorer(vae,
image)`` encodes a real image (Kingma and Welling 2014) and moves its posterior mean: original | reconstruction | edit.
``diffusion_explorer(models)`` walks a diffusion model's reverse process step by step (x_t beside the predicted x̂_0)
and interpolates two starting noises by slerp, denoised with deterministic DDIM (Song et al. 2021).

Every control updates on release. One update is ``render()``, which the observers call and tests call without a
browser; it runs the network under ``eval()`` and ``torch.inference_mode()``, then restores each training flag. PNG at
compression level 1 and nearest-neighbour enlarging keep a 64×64 update a few milliseconds beyond the forward pass
(``benchmarks/widget_latency.py`` measures it).
"""
from __future__ import annotations

import html
import io
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from facegen_utils._log import logger
from facegen_utils.latent import Direction
from facegen_utils.noise import REPORT_003_PRIORS, Prior, latent_from_seed, lerp, parse, slerp, truncate
from facegen_utils.tensors import eval_mode, from_uint8
from facegen_utils.viz import image_grid

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from facegen_utils.models import ModelSet


__all__ = ["LatentExplorer", "ConditionalExplorer", "VAEExplorer", "DiffusionExplorer", "latent_explorer", "vae_explorer",
           "diffusion_explorer", "png_bytes"]

DEFAULT_DIMS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
_MAX_SEED = 2 ** 31 - 1  # the largest seed a browser's number box holds exactly
_PNG_COMPRESS_LEVEL = 1  # fast zlib level: a 256×256 PNG encodes in about a millisecond


def png_bytes(images: torch.Tensor, *, value_range: Sequence[float], nrow: int = 8, scale: int = 1,
              padding: int = 2) -> bytes:
    """Encode one image (3, H, W) / (1, 3, H, W) or a grid of several as PNG, enlarged ``scale`` times (nearest)."""
    from PIL import Image

    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"image_scale={scale!r} must be a positive int (4 shows a 64×64 image at 256×256).")
    batch = images if images.ndim == 4 else images.unsqueeze(0)
    grid = image_grid(batch, nrow=nrow, value_range=value_range, padding=padding if batch.shape[0] > 1 else 0)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def _module_device(module: nn.Module) -> torch.device:
    """Device of the module's first parameter or buffer (CPU for a module without any)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _infer_value_range(module: nn.Module, what: str) -> tuple[float, float]:
    """Output range from a ``value_range`` attribute or the last layer (Tanh → (-1, 1), Sigmoid → (0, 1))."""
    declared = getattr(module, "value_range", None)
    if declared is not None:
        return (float(declared[0]), float(declared[1]))
    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    if leaves and isinstance(leaves[-1], (nn.Tanh, nn.Sigmoid)):
        return (-1.0, 1.0) if isinstance(leaves[-1], nn.Tanh) else (0.0, 1.0)
    logger.warning("%s ends neither in Tanh nor in Sigmoid; showing its output as values in (-1, 1). "
                   "Pass value_range=(0, 1) if it produces images in [0, 1].", what)
    return (-1.0, 1.0)


def _check_range(value_range: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in value_range)
    if not lo < hi:
        raise ValueError(f"value_range={tuple(value_range)!r} must be (low, high) with low < high, "
                         "e.g. (-1, 1) for a Tanh generator or (0, 1) for a Sigmoid one.")
    return lo, hi


def _load_if_path(source: Any) -> Any:
    """The ModelSet of a checkpoint path; anything else unchanged."""
    if not isinstance(source, (str, os.PathLike)):
        return source
    from facegen_utils.training import load_generator

    return load_generator(source)


def _check_dims(dims: Sequence[int], latent_dim: int) -> tuple[int, ...]:
    dims = tuple(dims)
    bad = [d for d in dims if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < latent_dim]
    if bad:
        raise ValueError(f"dims={dims!r}: {bad} are not latent dimensions; use ints in [0, {latent_dim}).")
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims={dims!r} lists a dimension twice; give each dimension once.")
    return dims


def _check_directions(directions: Any, latent_dim: int) -> tuple[Direction, ...]:
    """Directions as a tuple (a dict's values in order), each a unit vector of the generator's latent size."""
    found = tuple(directions.values() if isinstance(directions, dict) else directions or ())
    for d in found:
        if not isinstance(d, Direction):
            raise TypeError(f"directions: expected facegen_utils.latent.Direction objects (from "
                            f"fu.latent.attribute_directions), got {type(d).__name__}.")
        if tuple(d.vector.shape) != (latent_dim,):
            raise ValueError(f"direction {d.label!r} has {tuple(d.vector.shape)} entries, the generator's latent "
                             f"has {latent_dim}; compute the directions with this generator.")
    return found


class _Explorer:
    """Shared machinery: the image widget, a status line, observers that re-render, display in Jupyter."""

    def __init__(self, *, value_range: Sequence[float], image_scale: int, nrow: int) -> None:
        import ipywidgets as widgets

        self.value_range = _check_range(value_range)
        self.image_scale = image_scale
        self.nrow = nrow
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.last_ms: float | None = None
        self._paused = False
        self.widget: Any = None

    def images(self) -> torch.Tensor:
        """The images of the current settings, (N, 3, H, W) float on the CPU in ``value_range``."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming the current settings, shown under the image."""
        raise NotImplementedError

    def render(self) -> bytes:
        """Compute the images of the current settings, show them and return the PNG bytes."""
        start = time.perf_counter()
        png = png_bytes(self.images(), value_range=self.value_range, nrow=self.nrow, scale=self.image_scale)
        self.image.value = png
        self.last_ms = (time.perf_counter() - start) * 1000.0
        self.status.value = f"<small>{self.describe()} · {self.last_ms:.0f} ms</small>"
        return png

    def _add_offset_sliders(self, slider_range: float) -> None:
        """``self.sliders``, one per dimension in ``self.dims``, and ``self.reset_button``."""
        import ipywidgets as widgets

        if not slider_range > 0:
            raise ValueError(f"slider_range={slider_range!r} must be > 0 (how far each slider moves, e.g. 3.0).")
        self.sliders = [widgets.FloatSlider(value=0.0, min=-slider_range, max=slider_range, step=0.05,
                                            description=f"z[{d}]", continuous_update=False, readout_format=".2f",
                                            style={"description_width": "initial"}) for d in self.dims]
        self.reset_button = widgets.Button(description="reset sliders", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())

    def _add_direction_sliders(self, directions: Any, latent_dim: int, slider_range: float) -> list[Any]:
        """``self.directions`` and one slider each in ``self.direction_sliders``; returns the widgets to show."""
        import ipywidgets as widgets

        self.directions = _check_directions(directions, latent_dim)
        self.direction_sliders = [widgets.FloatSlider(value=0.0, min=-slider_range, max=slider_range, step=0.05,
                                                      description=d.label, continuous_update=False,
                                                      readout_format=".2f", style={"description_width": "initial"})
                                  for d in self.directions]
        if not self.directions:
            return []
        return [widgets.HTML("<b>attribute directions</b> in standard deviations of the prior"),
                *self.direction_sliders]

    def _along_directions(self, z: torch.Tensor, unit: float) -> torch.Tensor:
        """``z`` moved along each direction by its slider (``unit``: the prior's standard deviation)."""
        for direction, slider in zip(self.directions, self.direction_sliders):
            if slider.value != 0:
                z = z + float(slider.value) * unit * direction.vector.to(z.device, z.dtype)
        return z

    def _moved(self) -> list[str]:
        return [f"{d.label} {s.value:+.2f}" for d, s in zip(self.directions, self.direction_sliders) if s.value]

    def _observe(self, controls: Sequence[Any]) -> None:
        for control in controls:
            control.observe(self._on_change, names="value")

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._paused:
            return
        try:
            self.render()
        except Exception as error:  # shown in the widget: an observer's exception would only reach the log
            message = html.escape(f"{type(error).__name__}: {error}")
            self.status.value = f"<small style='color:#b00'>{message}</small>"
            logger.warning("latent explorer: %s", error)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls at once and render a single time at the end."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
        self.render()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class LatentExplorer(_Explorer):
    """Sliders, seeds, interpolation, prior and truncation around a generator; ``widget`` is the VBox to show."""

    def __init__(self, G: nn.Module, *, latent_dim: int, value_range: Sequence[float], dims: Sequence[int],
                 seed: int, prior: str | Prior, priors: Sequence[str | Prior], n: int, nrow: int | None,
                 slider_range: float, image_scale: int, device: torch.device | str | None,
                 directions: Sequence[Direction] = ()) -> None:
        import ipywidgets as widgets

        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} must be a positive int (1 for one image, e.g. 16 for a 4×4 grid).")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED - n:
            raise ValueError(f"seed={seed!r} must be an int in [0, {_MAX_SEED - n}] (the seed box's range).")
        super().__init__(value_range=value_range, image_scale=image_scale,
                         nrow=nrow if nrow is not None else math.ceil(math.sqrt(n)))
        if device is not None and _module_device(G) != torch.device(device):
            logger.info("latent explorer: moving the generator to %s.", device)
            G.to(device)
        self.G = G
        self.latent_dim = latent_dim
        self.n = n
        self.dims = _check_dims(dims, latent_dim)
        self.device = _module_device(G)

        specs = [str(parse(p)) for p in priors]
        chosen = str(parse(prior))
        if chosen not in specs:
            specs.insert(0, chosen)
        seed_box = {"min": 0, "max": _MAX_SEED, "continuous_update": False, "style": {"description_width": "initial"}}
        self.seed = widgets.BoundedIntText(value=seed, description="seed", **seed_box)
        self.seed_b = widgets.BoundedIntText(value=min(seed + n, _MAX_SEED), description="to seed", **seed_box)
        self.t = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="t", readout_format=".2f",
                                     continuous_update=False)
        self.path = widgets.ToggleButtons(options=["slerp", "lerp"], value="slerp", description="path",
                                          tooltips=["along the great circle (White 2016)", "straight line"],
                                          style={"button_width": "60px"})
        self.prior = widgets.Dropdown(options=[(parse(s).label, s) for s in specs], value=chosen, description="prior")
        self.truncation = widgets.FloatSlider(value=0.0, min=0.0, max=3.0, step=0.05, description="truncation",
                                              readout_format=".2f", continuous_update=False, style=seed_box["style"])
        self._add_offset_sliders(slider_range)
        along = self._add_direction_sliders(directions, latent_dim, slider_range)
        self._observe([self.seed, self.seed_b, self.t, self.path, self.prior, self.truncation, *self.sliders,
                       *self.direction_sliders])

        controls = widgets.VBox([*self._first_controls(), self.seed, self.prior, self.truncation,
                                 widgets.HTML("<b>interpolate</b> (t = 0: seed, t = 1: to seed)"), self.seed_b, self.t,
                                 self.path, *along,
                                 widgets.HTML("<b>offsets</b> in standard deviations of the prior"),
                                 *self.sliders, self.reset_button])
        self.widget = widgets.VBox([widgets.HBox([self.image, controls]), self.status])
        self.render()

    def _first_controls(self) -> list[Any]:
        """Widgets shown above the seed box (a conditional generator's menus); none here."""
        return []

    def _seed_latents(self, seed: int, prior: Prior) -> torch.Tensor:
        """Latents of seeds seed, seed + 1, ... (one per image), truncated when the slider is above 0."""
        z = torch.cat([latent_from_seed(seed + k, self.latent_dim, prior) for k in range(self.n)])
        threshold = float(self.truncation.value)
        if threshold > 0:
            z = truncate(z, threshold, prior, generator=torch.Generator().manual_seed(seed))
        return z

    def latent(self) -> torch.Tensor:
        """The (n, latent_dim) latents of the current settings, on the generator's device."""
        prior = parse(self.prior.value)
        z = self._seed_latents(int(self.seed.value), prior)
        t = float(self.t.value)
        if t > 0:
            z_b = self._seed_latents(int(self.seed_b.value), prior)
            z = z_b if t >= 1 else (slerp if self.path.value == "slerp" else lerp)(z, z_b, t)
        unit = prior.std if prior.std > 0 else 1.0
        offsets = torch.tensor([s.value for s in self.sliders], dtype=z.dtype) * unit
        z[:, list(self.dims)] += offsets
        return self._along_directions(z, unit).to(self.device)

    def images(self) -> torch.Tensor:
        """Generator output for ``latent()``: (n, 3, H, W) float on the CPU in ``value_range``."""
        z = self.latent()
        with eval_mode(self.G), torch.inference_mode():
            return self.G(z).float().cpu()

    def describe(self) -> str:
        """Seed(s), interpolation, prior and truncation of the current image."""
        text = f"seed {self.seed.value}"
        if self.t.value > 0:
            text += f" → {self.seed_b.value} ({self.path.value} t={self.t.value:.2f})"
        text += f" · {parse(self.prior.value).label}"
        if self.truncation.value > 0:
            text += f" · truncation {self.truncation.value:.2f}"
        moved = self._moved()
        return text + (" · " + ", ".join(moved) if moved else "")

    def reset(self) -> None:
        """Set every offset and direction slider and the interpolation back to 0 (one render)."""
        with self.hold():
            for control in (*self.sliders, *self.direction_sliders, self.t):
                control.value = 0.0


class ConditionalExplorer(LatentExplorer):
    """The latent explorer of a conditional generator, with one menu per attribute ("free": drawn from the latent).

    At a fixed latent, changing a menu redraws the same face with another attribute value."""

    def __init__(self, G: nn.Module, *, conditions: Mapping[str, Any] | None = None, **options: Any) -> None:
        import ipywidgets as widgets

        self.conditions = G.conditions
        start = self.conditions.labels(1, **(conditions or {}))[0].tolist()
        self.condition_menus = [
            widgets.Dropdown(options=[("free (from the latent)", -1), *[(v, i) for i, v in enumerate(values)]],
                             value=start[a], description=attribute, style={"description_width": "initial"})
            for a, (attribute, values) in enumerate(zip(self.conditions.attributes, self.conditions.values))]
        super().__init__(G, **options)
        self._observe(self.condition_menus)

    def _first_controls(self) -> list[Any]:
        import ipywidgets as widgets

        return [widgets.HTML("<b>conditions</b>"), *self.condition_menus]

    def labels(self) -> torch.Tensor:
        """The label rows of the menus, one per image (-1: free)."""
        return torch.tensor([menu.value for menu in self.condition_menus]).expand(self.n, -1)

    def images(self) -> torch.Tensor:
        """Generator output for ``latent()`` with the menus' conditions."""
        z = self.latent()
        with eval_mode(self.G), torch.inference_mode():
            return self.G(z, self.labels().to(z.device)).float().cpu()

    def describe(self) -> str:
        """The conditions, then the seed(s), interpolation, prior and truncation."""
        return f"{self.conditions.describe(self.labels()[0])} · {super().describe()}"


class VAEExplorer(_Explorer):
    """Sliders over the latent of one encoded image: original | reconstruction | edit."""

    def __init__(self, vae: nn.Module, image: torch.Tensor | np.ndarray | PILImage, *, latent_dim: int,
                 value_range: Sequence[float], dims: Sequence[int], slider_range: float, image_scale: int,
                 directions: Sequence[Direction] = ()) -> None:
        import ipywidgets as widgets

        super().__init__(value_range=value_range, image_scale=image_scale, nrow=3)
        self.vae = vae
        self.latent_dim = latent_dim
        self.dims = _check_dims(dims, latent_dim)
        self.device = _module_device(vae)
        self._add_offset_sliders(slider_range)
        along = self._add_direction_sliders(directions, latent_dim, slider_range)
        self._observe([*self.sliders, *self.direction_sliders])
        controls = widgets.VBox([*along,
                                 widgets.HTML("<b>offsets</b> from the posterior mean, in prior standard deviations"),
                                 *self.sliders, self.reset_button])
        header = widgets.HTML("<small>original | reconstruction | edit</small>")
        self.widget = widgets.VBox([widgets.HBox([widgets.VBox([header, self.image]), controls]), self.status])
        self.set_image(image)

    def set_image(self, image: torch.Tensor | np.ndarray | PILImage) -> None:
        """Encode a new image (tensor (3, H, W) in ``value_range``, uint8 array (H, W, 3) or PIL image) and show it."""
        x = _as_image_batch(image, self.value_range, getattr(self.vae, "image_size", None)).to(self.device)
        with eval_mode(self.vae), torch.inference_mode():
            mu, _ = self.vae.encode(x)
            self.original = x.float().cpu()
            self.mu = mu.float()
            self.reconstruction = self.vae.decode(self.mu).float().cpu()
        self.render()

    def latent(self) -> torch.Tensor:
        """The edited latent: posterior mean plus the slider offsets, shape (1, latent_dim)."""
        z = self.mu.clone()
        z[:, list(self.dims)] += torch.tensor([s.value for s in self.sliders], dtype=z.dtype, device=z.device)
        return self._along_directions(z, 1.0)

    def images(self) -> torch.Tensor:
        """Original, reconstruction and edit as a (3, 3, H, W) batch on the CPU."""
        z = self.latent()
        with eval_mode(self.vae), torch.inference_mode():
            edit = self.vae.decode(z).float().cpu()
        return torch.cat([self.original, self.reconstruction, edit])

    def describe(self) -> str:
        """Which dimensions are moved and how far."""
        moved = [f"z[{d}]={s.value:+.2f}" for d, s in zip(self.dims, self.sliders) if s.value != 0] + self._moved()
        return "edit: " + (", ".join(moved) if moved else "none (the reconstruction)")

    def reset(self) -> None:
        """Set every offset and direction slider back to 0 (one render)."""
        with self.hold():
            for slider in (*self.sliders, *self.direction_sliders):
                slider.value = 0.0


def _as_image_batch(image: torch.Tensor | np.ndarray | PILImage, value_range: tuple[float, float],
                    image_size: int | None) -> torch.Tensor:
    """One image as a float (1, 3, S, S) batch in ``value_range``; PIL images are resized to ``image_size``."""
    if not isinstance(image, (torch.Tensor, np.ndarray)):
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise TypeError(f"image: expected a tensor (3, H, W), a uint8 array (H, W, 3) or a PIL image, "
                            f"got {type(image).__name__}.")
        image = image.convert("RGB")
        if image_size is not None and image.size != (image_size, image_size):
            image = image.resize((image_size, image_size), Image.BICUBIC)
        image = np.asarray(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image: a numpy image must be uint8 of shape (H, W, 3), got {image.dtype} {image.shape}.")
        image = from_uint8(torch.from_numpy(image.copy()).permute(2, 0, 1), value_range)
    x = image.unsqueeze(0) if image.ndim == 3 else image
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"image: expected one image of shape (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}.")
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        raise ValueError(f"image: the VAE works on {image_size}×{image_size} images, got {tuple(x.shape[-2:])}; "
                         "use the dataset built with the same image_size.")
    if not x.is_floating_point():
        raise ValueError(f"image: a tensor image must be float in value_range {value_range}, got {x.dtype}.")
    return x


def latent_explorer(G_or_models: nn.Module | ModelSet | str | os.PathLike[str], *,
                    dims: Sequence[int] = DEFAULT_DIMS, seed: int = 0, prior: str | Prior = "normal(0, 1)",
                    priors: Sequence[str | Prior] = REPORT_003_PRIORS, n: int = 1, nrow: int | None = None,
                    value_range: Sequence[float] | None = None, latent_dim: int | None = None,
                    slider_range: float = 3.0, image_scale: int | None = None,
                    device: torch.device | str | None = None,
                    directions: Sequence[Direction] | dict[str, Direction] = (),
                    conditions: Mapping[str, Any] | None = None) -> LatentExplorer:
    """Build the latent explorer of a generator, a ModelSet or a checkpoint path; display it in a notebook cell.

    ``dims`` are the latent dimensions with a slider (offsets in standard deviations of the prior); ``n`` > 1 shows a
    grid of seeds ``seed, seed + 1, ...``. ``image_scale`` enlarges the pixels (default 4 for one image, 2 for a grid,
    which keeps a 4×4 grid's update cheap). ``value_range`` and ``latent_dim`` default to the ModelSet's (or the
    generator's ``latent_dim`` attribute and last layer). ``device`` None keeps the generator where it is.
    ``directions`` (from :func:`facegen_utils.latent.attribute_directions`) add one slider each, moving the latent
    along the attribute direction in standard deviations of the prior. A conditional generator (notebook 07) gets
    one menu per attribute; ``conditions`` ({attribute: value}) sets their start values (default: free).
    """
    G_or_models = _load_if_path(G_or_models)
    if isinstance(G_or_models, nn.Module):
        G = G_or_models
        latent_dim = latent_dim if latent_dim is not None else getattr(G, "latent_dim", None)
        value_range = value_range if value_range is not None else _infer_value_range(G, "G")
    elif isinstance(getattr(G_or_models, "G", None), nn.Module):
        G = G_or_models.G
        latent_dim = latent_dim if latent_dim is not None else G_or_models.latent_dim
        value_range = value_range if value_range is not None else G_or_models.value_range
    else:
        raise TypeError(f"latent_explorer: expected a generator (nn.Module), a ModelSet or a checkpoint path, "
                        f"got {type(G_or_models).__name__}.")
    if latent_dim is None:
        raise ValueError(f"latent_explorer: {type(G).__name__} has no latent_dim attribute; pass latent_dim=.")
    options = dict(latent_dim=int(latent_dim), value_range=value_range, dims=dims, seed=seed, prior=prior,
                   priors=priors, n=n, nrow=nrow, slider_range=slider_range, device=device, directions=directions,
                   image_scale=image_scale if image_scale is not None else (4 if n == 1 else 2))
    if hasattr(G, "conditions"):
        return ConditionalExplorer(G, conditions=conditions, **options)
    if conditions:
        raise ValueError(f"conditions= needs a conditional generator (models.build('cdcgan')), not "
                         f"{type(G).__name__}")
    return LatentExplorer(G, **options)


def vae_explorer(vae_or_models: nn.Module | ModelSet | str | os.PathLike[str],
                 image: torch.Tensor | np.ndarray | PILImage, *, dims: Sequence[int] = DEFAULT_DIMS,
                 value_range: Sequence[float] | None = None, latent_dim: int | None = None,
                 slider_range: float = 3.0, image_scale: int = 4,
                 directions: Sequence[Direction] | dict[str, Direction] = ()) -> VAEExplorer:
    """Encode a real image with a VAE (or a ModelSet / checkpoint holding one) and explore around its latent.

    ``image`` is a tensor (3, H, W) in the VAE's value range (e.g. ``dataset[0]``), a uint8 array (H, W, 3) or a
    PIL image. The widget shows original | reconstruction (decode of the posterior mean) | edit. ``directions``
    (from :func:`facegen_utils.latent.vae_directions`) add one slider each ("add glasses" edits).
    """
    vae_or_models = _load_if_path(vae_or_models)
    vae = vae_or_models if isinstance(vae_or_models, nn.Module) else getattr(vae_or_models, "vae", None)
    if vae is None or not (hasattr(vae, "encode") and hasattr(vae, "decode")):
        raise TypeError(f"vae_explorer: expected a VAE with encode() and decode() or a ModelSet of 'keras-vae', "
                        f"got {type(vae_or_models).__name__}; for a GAN use latent_explorer.")
    value_range = value_range if value_range is not None else getattr(vae_or_models, "value_range", None)
    if value_range is None:
        value_range = _infer_value_range(getattr(vae, "decoder", vae), "the VAE decoder")
    latent_dim = latent_dim if latent_dim is not None else getattr(vae_or_models, "latent_dim", None)
    if latent_dim is None:
        raise ValueError(f"vae_explorer: {type(vae).__name__} has no latent_dim attribute; pass latent_dim=.")
    return VAEExplorer(vae, image, latent_dim=int(latent_dim), value_range=value_range, dims=dims,
                       slider_range=slider_range, image_scale=image_scale, directions=directions)


class DiffusionExplorer(_Explorer):
    """One starting noise through a diffusion model's reverse process: x_t (left) and the predicted x̂_0 (right).

    Controls: the seed of the noise, a second seed and the slerp position between the two noises, the number of
    DDIM steps, and the step slider (1 = after the first denoising step, ``steps`` = the final image). A trajectory
    is computed once per noise and number of steps (one image, deterministic DDIM) and cached, so moving the step
    slider only redraws.
    """

    def __init__(self, model: nn.Module, *, seed: int, steps: int, step_choices: Sequence[int],
                 image_scale: int) -> None:
        import ipywidgets as widgets

        from facegen_utils.diffusion import check_steps

        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED - 1:
            raise ValueError(f"seed={seed!r} must be an int in [0, {_MAX_SEED - 1}] (the seed box's range).")
        choices = sorted({*step_choices, steps})
        for value in choices:
            check_steps("steps", value, model.timesteps)
        super().__init__(value_range=(-1.0, 1.0), image_scale=image_scale, nrow=2)
        self.model = model
        self.latent_dim = model.channels * model.image_size ** 2
        self._cache: dict[tuple[int, int, float, int], Any] = {}
        seed_box = {"min": 0, "max": _MAX_SEED, "continuous_update": False, "style": {"description_width": "initial"}}
        self.seed = widgets.BoundedIntText(value=seed, description="seed", **seed_box)
        self.seed_b = widgets.BoundedIntText(value=min(seed + 1, _MAX_SEED), description="to seed", **seed_box)
        self.t = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="slerp t",
                                     readout_format=".2f", continuous_update=False)
        self.steps = widgets.Dropdown(options=choices, value=steps, description="DDIM steps")
        self.step = widgets.IntSlider(value=steps, min=1, max=steps, description="after step",
                                      continuous_update=False, style={"description_width": "initial"})
        self.steps.observe(self._on_steps, names="value")
        self._observe([self.seed, self.seed_b, self.t, self.step])
        controls = widgets.VBox([self.seed, widgets.HTML("<b>interpolate</b> the starting noise (slerp)"),
                                 self.seed_b, self.t, widgets.HTML("<b>reverse process</b>"), self.steps, self.step])
        self.widget = widgets.VBox([widgets.HBox([self.image, controls]), self.status])
        self.render()

    def _on_steps(self, change: dict[str, Any]) -> None:
        with self.hold():
            self.step.max = int(change["new"])
            self.step.value = int(change["new"])

    def noise(self) -> torch.Tensor:
        """The starting noise x_T (1, latent_dim) of the current seeds and slerp position."""
        z = latent_from_seed(int(self.seed.value), self.latent_dim, "normal(0, 1)")
        t = float(self.t.value)
        if t > 0:
            z = slerp(z, latent_from_seed(int(self.seed_b.value), self.latent_dim, "normal(0, 1)"), t)
        return z

    def trajectory(self) -> Any:
        """The reverse process of the current noise (cached per seeds, slerp position and number of steps)."""
        from facegen_utils.diffusion import trajectory

        key = (int(self.seed.value), int(self.seed_b.value), float(self.t.value), int(self.steps.value))
        if key not in self._cache:
            if len(self._cache) > 32:  # a trajectory of 50 steps at 32 px is about 1.2 MB
                self._cache.clear()
            self._cache[key] = trajectory(self.model, x_T=self.noise(), steps=key[3], sampler="ddim", eta=0.0)
        return self._cache[key]

    def images(self) -> torch.Tensor:
        """x_t and x̂_0 after the chosen step: (2, 3, S, S) in [-1, 1]."""
        _, x, x0 = self.trajectory().at(min(int(self.step.value), int(self.steps.value)) - 1)
        return torch.cat([x.clamp(-1, 1), x0])

    def describe(self) -> str:
        """Seeds, slerp position, steps and the time step reached."""
        trajectory = self.trajectory()
        index = min(int(self.step.value), int(self.steps.value)) - 1
        t_next = trajectory.timesteps[index + 1] if index + 1 < len(trajectory.timesteps) else 0
        text = f"seed {self.seed.value}"
        if self.t.value > 0:
            text += f" → {self.seed_b.value} (slerp t={self.t.value:.2f})"
        return (text + f" · DDIM-{self.steps.value}, step {index + 1}/{self.steps.value} (now at t = {t_next}) · "
                f"left x_t, right the predicted x̂_0")


def diffusion_explorer(source: Any, *, seed: int = 0, steps: int = 25, step_choices: Sequence[int] = (10, 25, 50),
                       image_scale: int = 4) -> DiffusionExplorer:
    """Build the reverse-process explorer of a diffusion model (a ModelSet of ``ddpm-unet``, its Trainer or the
    DiffusionModel); display it in a notebook cell."""
    from facegen_utils.diffusion import denoiser_of

    return DiffusionExplorer(denoiser_of(source), seed=seed, steps=steps, step_choices=step_choices,
                             image_scale=image_scale)
