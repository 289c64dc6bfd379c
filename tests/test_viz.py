"""Image grids, value-range mapping and the training/comparison figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from facegen_utils import viz


def test_to_uint8_maps_value_ranges():
    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    out = viz.to_uint8_images(x, value_range=(-1, 1))
    assert out.shape == (1, 1, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0, :, 0], [0, 64, 128, 255, 255])
    unit = viz.to_uint8_images(torch.tensor([0.0, 0.5, 1.0, -0.2]).view(1, 1, 4).expand(3, 1, 4), (0, 1))
    np.testing.assert_array_equal(unit[0, 0, :, 1], [0, 128, 255, 0])
    gray = viz.to_uint8_images(np.ones((2, 1, 3, 3), np.float32), (0, 1))
    assert gray.shape == (2, 3, 3, 3) and (gray == 255).all()
    with pytest.raises(ValueError, match="expected images"):
        viz.to_uint8_images(torch.zeros(2, 5, 4, 4))


def test_image_grid_shape_padding_and_values():
    x = torch.stack([torch.full((3, 4, 6), v) for v in (-1.0, 0.0, 1.0, 0.5, -0.5)])
    grid = viz.image_grid(x, nrow=3, padding=2, pad_value=7)
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (6 + 2) + 2, 3)
    assert (grid[:2] == 7).all() and (grid[:, :2] == 7).all()
    assert (grid[2:6, 2:8] == 0).all()                  # image 0 = -1 -> black
    assert (grid[2:6, 10:16] == 128).all()              # image 1 = 0 -> mid grey
    assert (grid[2:6, 18:24] == 255).all()              # image 2 = 1 -> white
    assert (grid[8:12, 2:8] == 191).all()               # image 3 (second row) = 0.5
    assert (grid[8:12, 10:16] == 64).all()              # image 4 = -0.5
    assert (grid[8:12, 18:24] == 7).all()               # empty slot stays padding
    single = viz.image_grid(x[:2], nrow=8, padding=0)
    assert single.shape == (4, 12, 3)


def test_save_grid_writes_png(tmp_path):
    path = viz.save_grid(torch.zeros(4, 3, 5, 5), tmp_path / "deep" / "g.png", nrow=2)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (2 * 7 + 2, 2 * 7 + 2)


def _history(n=40):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"step": np.arange(n), "epoch": np.repeat([1, 2, 3, 4], n // 4),
                         "loss_D": rng.random(n), "loss_G": rng.random(n), "D_x": rng.random(n)})


def test_plot_losses_lines_and_smoothing():
    h = _history()
    fig = viz.plot_losses(h)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(ax.lines) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss_D", "loss_G"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), h["step"])
    assert ax.get_xlabel() == "iteration"

    fig = viz.plot_losses(h, columns=["loss_G", "D_x", "loss_D"], smooth=5)
    ax = fig.axes[0]
    assert len(ax.lines) == 6
    smoothed = ax.lines[1].get_ydata()
    np.testing.assert_allclose(smoothed[4], h["loss_G"][:5].mean())
    np.testing.assert_allclose(smoothed[0], h["loss_G"][0])


def test_plot_losses_epoch_axis_and_existing_axis():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        out = viz.plot_losses(_history(), x="epoch", columns=["loss_D"], ax=ax)
        assert out is fig
        xs = ax.lines[0].get_xdata()
        np.testing.assert_allclose(xs[[0, 9, 10, 39]], [0.1, 1.0, 1.1, 4.0])
        assert ax.get_xlabel() == "epochs completed"
    finally:
        plt.close(fig)


def test_plot_losses_errors_and_fallbacks():
    h = _history().drop(columns="step")
    fig = viz.plot_losses(h)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), np.arange(1, 41))
    with pytest.raises(ValueError, match="not in the history"):
        viz.plot_losses(h, columns=["loss_X"])
    with pytest.raises(ValueError, match="pass columns"):
        viz.plot_losses(h[["epoch", "D_x"]])
    with pytest.raises(ValueError, match="not a column"):
        viz.plot_losses(h, x="time")


def test_grid_strip_labels_and_inputs(tmp_path):
    batch = torch.rand(4, 3, 8, 8) * 2 - 1
    saved = viz.save_grid(batch, tmp_path / "epoch_010.png", nrow=2)
    ready = viz.image_grid(batch, nrow=2)
    fig = viz.grid_strip([batch, saved, ready], [1, 10, "final"], nrow=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["epoch 1", "epoch 10", "final"]
    shown = [ax.images[0].get_array() for ax in fig.axes]
    for arr in shown:
        np.testing.assert_array_equal(np.asarray(arr), ready)
    wrapped = viz.grid_strip([batch] * 5, ncols=2)
    assert len(wrapped.axes) == 6 and sum(bool(ax.images) for ax in wrapped.axes) == 5
    with pytest.raises(ValueError, match="one label per grid"):
        viz.grid_strip([batch, batch], ["only one"])


def test_compare_grids_per_model_value_range():
    tanh = torch.zeros(4, 3, 6, 6)       # 0 in (-1, 1) -> grey 128
    sigmoid = torch.full((4, 3, 6, 6), 0.5)  # 0.5 in (0, 1) -> grey 128
    fig = viz.compare_grids({"dcgan": tanh, "keras-vae": sigmoid},
                            value_range={"dcgan": (-1, 1), "keras-vae": (0, 1)}, nrow=2)
    assert [ax.get_title() for ax in fig.axes] == ["dcgan", "keras-vae"]
    a, b = (np.asarray(ax.images[0].get_array()) for ax in fig.axes)
    np.testing.assert_array_equal(a, b)
    assert a[2, 2, 0] == 128
    # a label longer than its panel is wide wraps instead of running into the next panel's
    long = "04-normal: shipped (350 epochs, 11,200 iterations)"
    fig = viz.compare_grids({long: tanh, "short": tanh}, nrow=2, panel_size=3.0)
    assert [ax.get_title() for ax in fig.axes] == ["04-normal: shipped (350\nepochs, 11,200 iterations)", "short"]


def test_save_figure(tmp_path):
    import matplotlib.pyplot as plt

    path = viz.save_figure(viz.plot_losses(_history()), tmp_path / "out" / "losses")
    assert path.suffix == ".png" and path.stat().st_size > 0
    fig = plt.figure()
    viz.save_figure(fig, tmp_path / "tracked.svg")
    assert not plt.fignum_exists(fig.number)
    assert (tmp_path / "tracked.svg").read_text().lstrip().startswith("<?xml")


def test_direction_effects_plot_one_line_pair_per_direction():
    import pandas as pd

    effects = []
    for name, shares in (("scene: water", [0.0, 0.5, 0.8]), ("sun", [0.2, 0.6, 0.9])):
        table = pd.DataFrame({"step": [-1.0, 0.0, 1.0], "share": shares, "others": [0.1, 0.0, 0.1]})
        table.attrs["direction"] = name
        effects.append(table)
    fig = viz.plot_direction_effects(effects)
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["scene: water", "sun"]
    assert ax.get_ylabel() == "share of generated images"  # the paintings' directions too, not only faces'
    np.testing.assert_array_equal(ax.lines[2].get_ydata(), [0.2, 0.6, 0.9])
