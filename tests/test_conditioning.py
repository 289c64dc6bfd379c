"""Notebook 07's conditional GAN: conditions and labels, the models, the objective, the judges and the measurements."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch

from facegen_utils import conclusions, conditioning, models, profiles
from facegen_utils.conditioning import Conditions
from facegen_utils.datasets.folders import DatasetNotFoundError
from facegen_utils.datasets.procedural import SyntheticFaces
from facegen_utils.spec import RunSpec
from facegen_utils.training import Trainer
from facegen_utils.training.data import BatchSource

FACES = conditioning.DEFAULT_FACE_CONDITIONS


def _spec(**flat):
    values = dict(dataset="synthetic-faces", conditions=FACES, model="cdcgan", image_size=16, limit=64,
                  batch_size=16, epochs=1, model_options={"base_channels": 8})
    return RunSpec.from_flat({**values, **flat})


# ---- conditions and labels ---------------------------------------------------------------------------------------

def test_the_face_schema_lists_the_values_the_renderer_draws():
    chosen = conditioning.schema("synthetic-faces", FACES)
    table = SyntheticFaces(200, image_size=8).attributes
    assert chosen.attributes == FACES
    for attribute, values in zip(chosen.attributes, chosen.values):
        assert set(table[attribute].astype(str)) <= set(values)
    assert chosen.sizes == (10, 5)


def test_a_misspelt_or_continuous_attribute_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="did you mean 'hair_color'"):
        conditioning.schema("synthetic-faces", ["hair_colour"])
    with pytest.raises(ValueError, match="continuous factor"):
        conditioning.schema("synthetic-faces", ["face_width"])
    with pytest.raises(ValueError, match="did you mean 'Eyeglasses'"):
        conditioning.schema("celeba", ["Eyeglass"])
    with pytest.raises(ValueError, match="no attribute labels"):
        conditioning.schema("monet", ["hair_color"])
    with pytest.raises(ValueError, match="twice"):
        conditioning.schema("celeba", ["Male", "Male"])


def test_labels_encode_values_and_leave_free_ones_at_minus_one():
    chosen = conditioning.schema("celeba", ["Male", "Smiling"])
    assert chosen.labels(3, Smiling=True).tolist() == [[-1, 1]] * 3
    assert chosen.labels(1, Male="no", Smiling=1).tolist() == [[0, 1]]
    table = pd.DataFrame({"Male": [1, 0, np.nan], "Smiling": [0, 1, 1]})
    assert chosen.encode(table).tolist() == [[1, 0], [0, 1], [-1, 1]]
    with pytest.raises(ValueError, match="not one of its values"):
        chosen.labels(1, Male="maybe")
    assert Conditions.from_option(chosen.as_option()) == chosen


def test_the_run_spec_ties_the_model_to_the_datas_conditions():
    run = _spec()
    assert run.model.options["conditions"]["hair_style"] == ["short", "bob", "long", "twin_tails", "bun"]
    assert run.model.latent_dim == 100 + 2  # the face code and one condition coordinate per attribute
    with pytest.raises(ValueError, match="is conditional"):
        RunSpec.from_flat(dict(model="cdcgan"))
    with pytest.raises(ValueError, match="need model 'cdcgan'"):
        RunSpec.from_flat(dict(model="dcgan", conditions=FACES))
    with pytest.raises(ValueError, match="not conditional but model 'cdcgan'"):
        _spec(objective="gan")
    with pytest.raises(ValueError, match="is conditional but model 'dcgan'"):
        RunSpec.from_flat(dict(model="dcgan", objective="cgan"))


def test_notebook_07_takes_the_datasets_own_conditions_when_the_dataset_changes():
    assert profiles.get("07", "smoke", dataset="celeba").conditions == ("Male", "Eyeglasses", "Smiling")
    assert profiles.get("07", "quick").conditions == FACES
    assert profiles.get("07", "quick", conditions=["eye_color"]).spec.model.latent_dim == 101


def test_batches_carry_the_label_rows_of_their_images():
    images = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 3, 4, 4).contiguous()
    labels = torch.stack([torch.arange(40), torch.arange(40) % 3], dim=1)
    source = BatchSource(images, batch_size=8, value_range=(0, 255), device=torch.device("cpu"), seed=1,
                         labels=labels)
    for real, rows in source.epoch(2):
        assert torch.equal(real[:, 0, 0, 0].round().long(), rows[:, 0])
        assert torch.equal(rows[:, 1], rows[:, 0] % 3)
    with pytest.raises(ValueError, match="label rows"):
        BatchSource(images, batch_size=8, value_range=(0, 255), device=torch.device("cpu"), seed=1,
                    labels=labels[:10])


# ---- the models ---------------------------------------------------------------------------------------------------

def test_the_generator_draws_given_values_and_free_ones_from_the_data_shares():
    G = models.build("cdcgan", image_size=16, base_channels=8).G
    assert G.latent_dim == 102 and G.code_dim == 100
    G.set_shares(torch.tensor([[7, 2]] * 2 + [[8, 2]] * 8))  # hair colour 7 in 20 %, 8 in 80 %; style 2 always
    drawn = G.draw_labels(torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)))
    share = torch.bincount(drawn[:, 0], minlength=10).float() / 4000
    assert share[:7].sum() == 0 and share[9] == 0 and share[8] == pytest.approx(0.8, abs=0.03)
    assert (drawn[:, 1] == 2).all()
    z = torch.randn(6, 102)
    G.eval()
    with torch.no_grad():
        told = G(z, torch.tensor([[3, 4]] * 6))
        assert torch.equal(told, G(z.clone().index_fill_(1, torch.tensor([100, 101]), 5.0), torch.tensor([[3, 4]] * 6)))
        assert torch.equal(G(z, torch.tensor([[-1, -1]] * 6)), G(z))  # -1: free, as without labels
        assert not torch.equal(told, G(z, torch.tensor([[4, 4]] * 6)))
    with pytest.raises(ValueError, match="out of range"):
        G(z, torch.tensor([[10, 0]] * 6))
    with pytest.raises(ValueError, match="integer tensor"):
        G(z, torch.zeros(6, 2))


@pytest.mark.parametrize("variant", ["projection", "concat"])
def test_both_discriminators_score_each_image_with_its_labels(variant):
    D = models.build("cdcgan", image_size=16, base_channels=8, discriminator=variant).D.eval()
    x = torch.randn(5, 3, 16, 16)
    a, b = torch.tensor([[1, 2]] * 5), torch.tensor([[7, 0]] * 5)
    with torch.no_grad():
        if variant == "projection":  # start: the projection term is small but there
            torch.nn.init.normal_(D.embed[0].weight, std=1.0)
        assert D(x, a).shape == (5,)
        assert not torch.allclose(D(x, a), D(x, b))
    with pytest.raises(ValueError, match="discriminator"):
        models.build("cdcgan", discriminator="both")


def test_the_conditional_pair_compiles_without_graph_breaks():
    """Under torch.compile the label values are not checked: the check's data-dependent branch would split the
    graph and wait for the GPU at every call (the shapes and dtype still are)."""
    torch._dynamo.reset()
    pair = models.build("cdcgan", image_size=16, base_channels=8)
    z, labels = torch.randn(4, pair.G.latent_dim), torch.tensor([[1, -1]] * 4)
    try:
        for net, args in ((pair.G, (z, labels)), (pair.D, (torch.randn(4, 3, 16, 16), labels.clamp(min=0)))):
            explained = torch._dynamo.explain(net)(*args)
            assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    finally:
        torch._dynamo.reset()
    with pytest.raises(ValueError, match="out of range"):  # eager calls still check the values
        pair.G(z, torch.tensor([[10, 0]] * 4))


# ---- training -----------------------------------------------------------------------------------------------------

def test_the_conditional_objective_trains_and_resumes_exactly(tmp_path):
    run = _spec(epochs=2, out_dir=str(tmp_path / "a"))
    data = run.load_dataset()
    full = Trainer.from_spec(run, data)
    full.fit()
    assert np.isfinite(full.history[["loss_D", "loss_G"]].to_numpy()).all()
    counts = torch.bincount(data.labels[:, 0], minlength=10).float()
    assert torch.allclose(full.models.G.shares[0], counts / counts.sum())
    half = Trainer.from_spec(run.replace(out_dir=str(tmp_path / "b")), data)
    half.fit(1)
    resumed = Trainer.from_checkpoint(tmp_path / "b" / "checkpoint.pt", data)
    resumed.fit(2)
    for mine, theirs in zip(resumed.models.G.state_dict().values(), full.models.G.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_an_unlabelled_dataset_is_refused_by_the_conditional_objective():
    run = _spec()
    with pytest.raises(ValueError, match="needs labelled images"):
        Trainer(run.build_models(), SyntheticFaces(32, image_size=16), run.train)


# ---- CelebA's attribute file ----------------------------------------------------------------------------------------

def _celeba(tmp_path, *, rows: int | None, kind: str = "csv"):
    root = tmp_path / "celeba"
    SyntheticFaces(24, image_size=40, seed=3).save_to_folder(root / "img_align_celeba" / "img_align_celeba")
    names = sorted(p.name for p in (root / "img_align_celeba" / "img_align_celeba").glob("*.jpg"))
    if rows is not None:
        rng = np.random.default_rng(0)
        values = rng.choice([-1, 1], size=(rows, len(conditioning.CELEBA_ATTRIBUTES)))
        table = pd.DataFrame(values, columns=conditioning.CELEBA_ATTRIBUTES, index=pd.Index(names[:rows],
                                                                                             name="image_id"))
        if kind == "csv":
            table.to_csv(root / "list_attr_celeba.csv")
        else:
            text = [str(rows), " ".join(table.columns)] + [f"{n} " + " ".join(map(str, r))
                                                          for n, r in zip(table.index, table.to_numpy())]
            (root / "list_attr_celeba.txt").write_text("\n".join(text) + "\n")
    return root, names


@pytest.mark.parametrize("kind", ["csv", "txt"])
def test_celeba_images_without_a_label_row_are_listed_and_left_out_untouched(tmp_path, caplog, kind, monkeypatch):
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))
    root, names = _celeba(tmp_path, rows=20, kind=kind)
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    run = RunSpec.from_flat(dict(dataset="celeba", data_dir=str(root), conditions=("Male", "Smiling"),
                                 model="cdcgan", image_size=16))
    with caplog.at_level(logging.WARNING, logger="facegen"):
        data = run.load_dataset()
    assert len(data) == 20 and data.unlabelled == names[20:]
    assert "4 image(s) have no label row" in caplog.text and names[23] in caplog.text
    assert data.labels.shape == (20, 2) and data.to_uint8().shape == (20, 3, 16, 16)
    men = data.images_with(Male="yes")  # read by row from the wrapped dataset, skipping the unlabelled images
    assert torch.equal(men, data.to_uint8()[data.labels[:, 0] == 1])
    some = data.images_with(3, seed=1, Male=True)
    assert len(some) == 3 and all(any(torch.equal(a, b) for b in men) for a in some)
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def test_a_missing_celeba_attribute_file_names_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGEN_CACHE_DIR", str(tmp_path / "cache"))
    root, _ = _celeba(tmp_path, rows=None)
    run = RunSpec.from_flat(dict(dataset="celeba", data_dir=str(root), conditions=("Male",), model="cdcgan",
                                 image_size=16))
    with pytest.raises(DatasetNotFoundError, match="list_attr_celeba.csv.*kaggle datasets download"):
        run.load_dataset()


# ---- measurements -------------------------------------------------------------------------------------------------

class _Painter(models.ConditionalGenerator):
    """Paints its hair-colour label as the image's brightness (or ignores it): a generator with known obedience."""

    obey = True

    def forward(self, z, labels=None):
        drawn = self.draw_labels(z[:, self.code_dim:])
        if labels is not None and self.obey:
            drawn = torch.where(labels < 0, drawn, labels)
        return (drawn[:, :1].float() / 10 - 0.45).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()


def _painter(obey):
    G = _Painter(102, (10, 5), image_size=16, base_channels=8)
    G.obey, G.conditions = obey, conditioning.schema("synthetic-faces", FACES)
    return G


def _brightness_judge(images):
    values = np.asarray(conditioning.schema("synthetic-faces", FACES).values[0], dtype=object)
    index = ((images[:, 0, 0, 0] + 0.45) * 10).round().long().clamp(0, 9).numpy()
    return pd.DataFrame({"hair_color": values[index], "hair_style": "bob"})


def test_conditioning_accuracy_is_one_for_an_obedient_generator_and_the_share_for_a_deaf_one():
    obedient = conditioning.conditioning_accuracy(_painter(True), _brightness_judge, n=50, baseline=_painter(False))
    colours = obedient[obedient["attribute"] == "hair_color"]
    assert (colours["accuracy"] == 1.0).all()
    assert colours["share without condition"].sum() == pytest.approx(1.0)
    deaf = conditioning.conditioning_accuracy(_painter(False), _brightness_judge, n=400)
    assert deaf.attrs["mean"]["hair_color"] == pytest.approx(0.1, abs=0.03)  # chance among ten equal shares
    sentences = conclusions.conditioning(pd.DataFrame({"accuracy hair_color": [1.0, 0.1], "precision": [0.9, 0.8],
                                                       "coverage": [0.7, 0.6]}, index=["projection", "concat"]),
                                         epochs=3, shipped=obedient)
    assert "projection discriminator conditions better: mean accuracy 1.00 against 0.10" in sentences[2]
    assert "does not reach the target 0.9" in sentences[3]  # hair_style is never seen by this judge
    sharper = conclusions.conditioning(pd.DataFrame({"accuracy hair_color": [0.8, 0.9], "precision": [0.81, 0.52],
                                                     "coverage": [0.34, 0.36]}, index=["projection", "concat"]),
                                       epochs=25)
    assert "the concat discriminator conditions better: mean accuracy 0.90 against 0.80" in sharper[2]
    assert "The projection discriminator's faces look more real: precision 0.81 against 0.52" in sharper[3]


def test_the_condition_swap_counts_what_changes_besides_the_condition():
    swap = conditioning.condition_swap(_painter(True), "hair_color", _brightness_judge, n=40).set_index("attribute")
    assert swap["changed"].to_dict() == {"hair_color": 1.0, "hair_style": 0.0}
    assert swap.loc["hair_color", "between different faces"] == 0.0  # all faces of one row are asked the same value
    swap = swap.reset_index()
    swap.loc[1, "between different faces"] = 0.5
    line = conclusions.conditioning(pd.DataFrame(), epochs=1, swap=swap)[0]
    assert ("changes the judged hair_color in 100% of the faces; the other attributes change in at most 0% "
            "(hair_style, against 50% between two different faces): the face stays") in line
    swap.loc[1, "changed"] = 0.3
    assert "most of the face stays, but" in conclusions.conditioning(pd.DataFrame(), epochs=1, swap=swap)[0]
    swap.loc[1, "changed"] = 0.45
    assert "also drags other features along" in conclusions.conditioning(pd.DataFrame(), epochs=1, swap=swap)[0]


def test_the_learned_judge_reads_hair_colour_better_than_the_majority_answer():
    data = _spec(limit=600).load_dataset()
    judge = conditioning.train_judge(data, epochs=10, seed=0)
    report = judge.report().set_index("attribute")
    assert report.loc["hair_color", "held-out accuracy"] > report.loc["hair_color", "always the most frequent value"] + 0.3
    assert list(judge(data.to_uint8()[:5]).columns) == list(FACES)


def test_figures_tables_and_explorer_of_a_trained_conditional_generator():
    run = _spec(epochs=1)
    data = run.load_dataset()
    trainer = Trainer.from_spec(run, data)
    trainer.fit()
    fig = conditioning.condition_grid(trainer, "hair_style", columns=4)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["short", "bob", "long", "twin_tails", "bun"]
    quality = conditioning.per_condition_quality(trainer, data, "hair_style", n=16)
    assert set(quality.columns) >= {"value", "precision", "coverage", "density"}
    from facegen_utils import widgets

    explorer = widgets.latent_explorer(trainer.models, n=2)
    first = explorer.render()
    explorer.condition_menus[0].value = 3
    assert explorer.render() != first and "hair_color=blonde" in explorer.describe()
    fixed = conditioning.conditioned(trainer.models, hair_color="blonde")
    z = torch.randn(3, 102)
    G = trainer.models.G.eval()
    with torch.no_grad():
        assert torch.equal(fixed(z), G(z, torch.tensor([[3, -1]] * 3)))
