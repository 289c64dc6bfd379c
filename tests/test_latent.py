"""Latent attribute directions: their construction, the explorer's sliders, and the measured effect on shipped faces."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facegen_utils import latent, pretrained
from facegen_utils.conclusions import MONOTONE_SLACK
from facegen_utils.models import build
from facegen_utils.widgets import latent_explorer

# on the shipped 05-gan, moving along a direction from -3 to +3 prior standard deviations (the slider's range)
EFFECT_ATTRIBUTES = latent.PREFERRED["faces"]
LOW_SHARE, HIGH_SHARE = 0.2, 0.8   # predicted share of the attribute at the two ends of the slider
OTHERS_CHANGE = 0.3                # mean total variation of the other attributes at the ends (0 = unchanged)


def _toy_directions(latent_dim: int) -> list[latent.Direction]:
    z = torch.randn(400, latent_dim, generator=torch.Generator().manual_seed(0))
    import pandas as pd

    labels = pd.DataFrame({"hair_color": np.where(z[:, 0] > 0.5, "blonde", "black"),
                           "blush": np.where(z[:, 1] > 0, True, False)})
    return list(latent._directions(z, labels, ["hair_color", "blush"], 1.0, 20).values())


def test_difference_of_class_means_finds_the_dimension_that_decides():
    found = {d.label: d for d in _toy_directions(16)}
    assert set(found) == {"hair_color: black", "hair_color: blonde", "blush"}  # a yes/no attribute: one direction
    blonde = found["hair_color: blonde"]
    assert float(blonde.vector.norm()) == pytest.approx(1.0, abs=1e-6)
    assert int(blonde.vector.abs().argmax()) == 0 and blonde.vector[0] > 0.9
    assert int(found["blush"].vector.abs().argmax()) == 1
    assert torch.allclose(found["hair_color: black"].vector, -blonde.vector, atol=1e-6)
    assert blonde.separation > 1.0 and blonde.n_with + blonde.n_without == 400


def test_move_is_in_prior_standard_deviations():
    d = _toy_directions(16)[0]
    z = torch.zeros(2, 16)
    moved = latent.move(z, d, 2.0, prior="normal(0, 4)")
    assert torch.allclose(moved - z, (4.0 * d.vector).expand(2, -1))


def test_unknown_attributes_are_named():
    G = build("dcgan", image_size=16, latent_dim=8, base_channels=4).G
    with pytest.raises(ValueError, match="attributes='hair_colour' is invalid.*did you mean 'hair_color'"):
        latent.attribute_directions(G, n=40, attributes=["hair_colour"])


def test_the_explorer_moves_along_a_direction_and_names_it():
    models = build("dcgan", image_size=16, latent_dim=16, base_channels=4)
    torch.manual_seed(0)
    directions = _toy_directions(16)
    explorer = latent_explorer(models, dims=(0,), directions=directions)
    assert [s.description for s in explorer.direction_sliders] == [d.label for d in directions]
    before, z0 = explorer.render(), explorer.latent().clone()
    explorer.direction_sliders[0].value = 1.5
    assert explorer.render() != before
    assert torch.allclose(explorer.latent() - z0, 1.5 * directions[0].vector.unsqueeze(0), atol=1e-6)
    assert f"{directions[0].label} +1.50" in explorer.status.value
    explorer.reset()
    assert torch.equal(explorer.latent(), z0)


def test_directions_of_another_latent_size_are_refused():
    models = build("dcgan", image_size=16, latent_dim=8, base_channels=4)
    with pytest.raises(ValueError, match="compute the directions with this generator"):
        latent_explorer(models, directions=_toy_directions(16))


@pytest.fixture(scope="module")
def faces_generator():
    return pretrained.load("05-gan")


@pytest.fixture(scope="module")
def face_directions(faces_generator):
    return latent.attribute_directions(faces_generator, n=2000, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("label", EFFECT_ATTRIBUTES)
def test_moving_along_a_direction_raises_its_attribute_and_little_else(faces_generator, face_directions, label):
    effect = latent.direction_effect(faces_generator, face_directions[label], n=200, seed=1)
    share = effect["share"].to_numpy()
    assert share[0] < LOW_SHARE and share[-1] > HIGH_SHARE, effect
    assert np.all(np.diff(share) >= -MONOTONE_SLACK), effect
    assert effect["others"].iloc[[0, -1]].max() <= OTHERS_CHANGE, effect


@pytest.mark.slow
def test_vae_directions_come_from_encoded_labelled_faces():
    from facegen_utils import profiles

    models = pretrained.load("01-vae")
    data = profiles.get("01", "quick", variant="vae").load_dataset()
    found = latent.vae_directions(models, data, n=1000)
    assert "hair_color: blonde" in found and "blush" in found
    assert found["hair_color: blonde"].vector.shape == (models.latent_dim,)
    effect = latent.direction_effect(models, found["hair_color: blonde"], n=200, seed=1)
    assert effect["share"].iloc[-1] > effect["share"].iloc[0] + 0.3, effect


def test_the_effect_sentence_reads_the_table():
    from facegen_utils import conclusions
    import pandas as pd

    table = pd.DataFrame({"step": [-3.0, 0.0, 3.0], "share": [0.05, 0.3, 0.9], "others": [0.2, 0.0, 0.25]})
    table.attrs["direction"] = "hair_style: long"
    assert conclusions.direction_effect(table) == (
        "hair_style: long: from step -3 to +3 its predicted share goes from 5% to 90% and rises at every step; the "
        "other attributes change by 0.25 at most (total variation, 0 = unchanged).")
    table["share"] = [0.05, 0.5, 0.4]
    assert ", not at every step;" in conclusions.direction_effect(table)
