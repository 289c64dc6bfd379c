"""Metrics on known cases: identical sets, different domains, a collapsed generator, biased attributes, labels."""
from __future__ import annotations

import importlib
import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from facegen_utils import metrics
from facegen_utils._log import logger
from facegen_utils.datasets.procedural import SyntheticFaces, SyntheticPaintings
from facegen_utils.metrics import INCEPTION, SYNTHETIC, Features, MetricResult
from facegen_utils.metrics import features as features_module

ROOT = Path(__file__).resolve().parents[1]
NOTE = "facegen-synthetic-v1 features, not comparable to published Inception FID"


@pytest.fixture(scope="module", autouse=True)
def no_inception_weights(tmp_path_factory):
    """Run every test as on an offline machine without Inception weights."""
    hub = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(metrics.INCEPTION_ENV, raising=False)
        mp.setattr(torch.hub, "get_dir", lambda: str(hub))
        features_module._load_inception.cache_clear()
        yield
    features_module._load_inception.cache_clear()


@pytest.fixture(scope="module")
def faces() -> SyntheticFaces:
    return SyntheticFaces(600, seed=0)


@pytest.fixture(scope="module")
def faces_u8(faces) -> torch.Tensor:
    return faces.to_uint8()


@pytest.fixture(scope="module")
def real(faces_u8) -> Features:
    return metrics.extract_features(faces_u8[:300])


@pytest.fixture(scope="module")
def other_real(faces_u8) -> Features:
    return metrics.extract_features(faces_u8[300:])


@pytest.fixture(scope="module")
def paintings() -> Features:
    return metrics.extract_features(SyntheticPaintings(300, seed=0))


def _script():
    spec = importlib.util.spec_from_file_location("train_feature_extractor", ROOT / "scripts" / "train_feature_extractor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- labels and the feature extractor choice

def test_results_say_which_features_and_sample_sizes():
    text = str(MetricResult("FID", 12.34, SYNTHETIC, 500, 500))
    assert text == f"FID ({NOTE}) = 12.34 [n=500/500]"
    assert repr(MetricResult("FID", 12.34, SYNTHETIC, 500, 500)) == text
    assert str(MetricResult("KID", 0.0123, INCEPTION, 10, 20, std=0.001)) == "KID (inception-v3 features) = 0.0123 \u00b1 0.001 [n=10/20]"


def test_offline_machine_falls_back_to_the_package_features(real, other_real, monkeypatch, tmp_path):
    assert metrics.resolve_features("auto") == SYNTHETIC
    assert metrics.available_features() == [SYNTHETIC]
    result = metrics.fid(real, other_real)
    assert result.features == SYNTHETIC and NOTE in str(result)
    with pytest.raises(RuntimeError, match=metrics.INCEPTION_ENV):
        metrics.resolve_features(INCEPTION)
    monkeypatch.setenv(metrics.INCEPTION_ENV, str(tmp_path / "missing.pth"))
    assert metrics.resolve_features("auto") == SYNTHETIC
    with pytest.raises(ValueError, match="features='bogus'"):
        metrics.resolve_features("bogus")


def test_inception_features_are_used_when_available(faces_u8, monkeypatch):
    seen = []

    class FakeInception(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.dtype)
            return x.double().mean(dim=(2, 3)).repeat(1, 4)

    monkeypatch.setattr(features_module, "_inception", lambda: FakeInception())
    assert metrics.resolve_features("auto") == INCEPTION
    result = metrics.fid(faces_u8[:50], faces_u8[50:100].float() / 127.5 - 1)
    assert result.features == INCEPTION and "not comparable" not in str(result)
    assert seen and set(seen) == {torch.uint8}
    with pytest.raises(ValueError, match="computed with"):
        metrics.extract_features(metrics.extract_features(faces_u8[:8], features=SYNTHETIC), features=INCEPTION)


def test_inputs_in_any_value_range_and_size_give_the_same_features(faces_u8):
    u8 = faces_u8[:16]
    ref = metrics.extract_features(u8).values
    minus_one = metrics.extract_features(u8.float() / 127.5 - 1).values
    unit = metrics.extract_features(u8.float() / 255, value_range=(0, 1)).values
    assert torch.allclose(ref, minus_one, atol=1e-4) and torch.allclose(ref, unit, atol=1e-4)
    small = metrics.extract_features(SyntheticFaces(16, image_size=32, seed=0))
    assert small.values.shape == (16, 128)
    big = metrics.extract_features(SyntheticFaces(16, image_size=128, seed=0)).values
    assert (big - ref).norm() < 0.5 * ref.norm()
    with pytest.raises(ValueError, match="empty"):
        metrics.extract_features(u8[:0])


# -- FID / KID

def test_frechet_distance_of_known_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])
    s1, s2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([9.0, 1.0]))
    expected = 1 + 4 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_identical_sets_have_zero_fid_and_full_precision_recall(real):
    assert metrics.fid(real, real).value == pytest.approx(0.0, abs=1e-6)
    precision, recall = metrics.precision_recall(real, real)
    assert precision.value == 1.0 and recall.value == 1.0


def test_different_data_give_a_large_fid(real, other_real, paintings, faces_u8):
    same = metrics.fid(real, other_real).value
    assert metrics.fid(real, paintings).value > 10 * same
    noise = torch.randint(0, 256, (300, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert metrics.fid(real, noise).value > 10 * same


def test_fid_grows_with_image_damage(real, faces_u8):
    x = faces_u8[300:].float() / 127.5 - 1
    g = torch.Generator().manual_seed(0)
    values = [metrics.fid(real, (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)).value
              for sigma in (0.0, 0.15, 0.5)]
    assert values[0] < values[1] < values[2]


def test_kid_is_near_zero_for_the_same_distribution(real, other_real, paintings):
    same = metrics.kid(real, other_real, n_subsets=20)
    different = metrics.kid(real, paintings, n_subsets=20)
    assert abs(same.value) < 0.05 * different.value
    assert same.std is not None and same.features == SYNTHETIC


# -- diversity and mode collapse

def test_a_collapsed_generator_is_flagged(real, other_real, faces_u8):
    collapsed = faces_u8[400:401].repeat(200, 1, 1, 1)
    report = metrics.mode_collapse_report(real, collapsed)
    assert report["collapsed"] and report["duplicate_share"] == pytest.approx(1.0)
    assert report["recall"] < 0.05 and report["diversity_ratio"] < 0.01
    assert report["features"] == SYNTHETIC
    healthy = metrics.mode_collapse_report(real, other_real)
    assert not healthy["collapsed"] and healthy["duplicate_share"] < 0.1
    assert healthy["diversity_ratio"] == pytest.approx(1.0, abs=0.15) and healthy["recall"] > 0.5


def test_duplicate_share_and_diversity(real, other_real, faces_u8):
    half = torch.cat([faces_u8[300:400], faces_u8[300:400]])
    assert metrics.duplicate_share(real, half).value == pytest.approx(1.0)
    assert metrics.duplicate_share(real, other_real).value < 0.1
    pixels = metrics.diversity(faces_u8[:100], space="pixels")
    assert pixels.features == metrics.PIXELS and 0.05 < pixels.value < 1.0
    assert metrics.diversity(faces_u8[:1].repeat(10, 1, 1, 1), space="pixels").value == pytest.approx(0.0, abs=1e-6)
    assert metrics.diversity(real).value > 0


def test_blur_is_not_duplication_but_a_few_modes_are(real, faces_u8):
    # blurry yet distinct samples (a short run's) sit closer together in every direction: the diversity ratio shows
    # that; near-duplicates are measured relative to each set's own spread, so blur alone does not make them
    other_real = faces_u8[300:]
    smooth = other_real.float()
    smooth = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(smooth, (2, 2, 2, 2), mode="replicate"), 5, 1)
    blurred = metrics.mode_collapse_report(real, smooth.round().to(torch.uint8))
    assert blurred["duplicate_share"] < 0.1 and blurred["recall"] < 0.5
    assert blurred["diversity_ratio"] < 0.95 and not blurred["collapsed"]
    g = torch.Generator().manual_seed(0)
    modes = torch.cat([(other_real[i:i + 1].float() + 6 * torch.randn(10, *other_real.shape[1:], generator=g))
                       for i in range(10)]).clamp(0, 255).to(torch.uint8)  # 10 images, each with small variations
    report = metrics.mode_collapse_report(real, modes)
    assert report["duplicate_share"] > 0.9 and report["collapsed"]
    assert report["diversity_ratio"] > 0.5  # spread out overall: only the duplicate share catches it


def test_density_and_coverage_equal_the_authors_implementation():
    prdc = __import__("prdc")  # the reference code of Naeem et al. 2020 (dev extra)
    g = torch.Generator().manual_seed(3)
    for n_real, n_fake, dim in ((200, 150, 16), (120, 300, 64)):
        x, y = torch.randn(n_real, dim, generator=g), 0.8 * torch.randn(n_fake, dim, generator=g) + 0.3
        theirs = prdc.compute_prdc(real_features=x.numpy(), fake_features=y.numpy(), nearest_k=5)
        density, coverage = metrics.density_coverage(Features(x.double(), "test"), Features(y.double(), "test"), k=5)
        assert density.value == pytest.approx(theirs["density"], abs=1e-6)
        assert coverage.value == pytest.approx(theirs["coverage"], abs=1e-6)
        precision, recall = metrics.precision_recall(Features(x.double(), "test"), Features(y.double(), "test"), k=5)
        assert (precision.value, recall.value) == pytest.approx((theirs["precision"], theirs["recall"]), abs=1e-6)


@pytest.fixture(scope="module")
def sanity_sets() -> dict[str, Features]:
    """1,000 synthetic faces at 32 px, and what the issue's table compared with them (package features)."""
    u8 = SyntheticFaces(3000, image_size=32, seed=11).to_uint8()
    other = u8[1000:2000]
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(other.float(), (1, 1, 1, 1), mode="replicate"),
                                             3, 1).round().to(torch.uint8)
    g = torch.Generator().manual_seed(0)
    modes = (u8[2000:2010].float().repeat_interleave(100, 0) + 4 * torch.randn(1000, 3, 32, 32, generator=g))
    # varied images far from the faces, as a generator's after a few hundred iterations: faces under heavy noise
    far = (u8[1000:2000].float() + 80 * torch.randn(1000, 3, 32, 32, generator=g)).clamp(0, 255).to(torch.uint8)
    sets = {"real": u8[:1000], "other": other, "blurred": blurred, "collapsed": modes.clamp(0, 255).to(torch.uint8),
            "far": far}
    return {name: metrics.extract_features(images, features=SYNTHETIC) for name, images in sets.items()}


def test_coverage_separates_blur_from_collapse_where_recall_does_not(sanity_sets):
    real = sanity_sets["real"]
    scores = {name: metrics.density_coverage(real, sanity_sets[name])[1].value
              for name in ("other", "blurred", "collapsed")}
    assert scores["other"] >= 0.9 and scores["blurred"] >= 0.85 and scores["collapsed"] <= 0.1
    recalls = {name: metrics.precision_recall(real, sanity_sets[name])[1].value for name in ("blurred", "collapsed")}
    assert recalls["blurred"] < 0.5 and recalls["collapsed"] < 0.1  # recall reads both as failures
    verdicts = {name: metrics.collapse_check(real, sanity_sets[name]) for name in ("other", "blurred", "collapsed")}
    assert not verdicts["other"]["collapsed"] and not verdicts["blurred"]["collapsed"]
    assert verdicts["collapsed"]["collapsed"] and "cover" in verdicts["collapsed"]["reason"]
    # varied samples far from the data cover nothing either, but they do not repeat: untrained, not collapsed
    far = metrics.collapse_check(real, sanity_sets["far"])
    assert far["coverage"] <= 0.1 and far["duplicate_share"] < 0.25
    assert not far["collapsed"] and "far from the data (precision 0.00" in far["reason"]
    # the same samples with a low precision floor count as collapsed by coverage, as before the floor
    assert metrics.collapse_check(real, sanity_sets["far"], precision_floor=0.0)["collapsed"]
    # 500 real images twice: all near-duplicates, yet the set covers the data: tight clusters, not a collapse
    twice = Features(sanity_sets["other"].values[:500].repeat_interleave(2, 0), sanity_sets["other"].name)
    pairs = metrics.collapse_check(real, twice)
    assert pairs["duplicate_share"] > 0.9 and pairs["coverage"] >= 0.7
    assert not pairs["collapsed"] and "tight clusters, not missing modes" in pairs["reason"]
    assert metrics.collapse_check(real, twice, covered=1.0)["collapsed"]  # without the coverage gate it would be


# -- attribute match

def test_attribute_match_is_small_for_real_images_and_large_for_one_hair_colour(faces, faces_u8):
    table = faces.attributes
    real = metrics.attribute_match(faces_u8, faces)
    top = table["hair_color"].value_counts().index[0]
    only = torch.tensor((table["hair_color"] == top).to_numpy())
    biased = metrics.attribute_match(faces_u8[only], table)
    hair = biased.details.set_index("attribute").loc["hair_color", "distance"]
    assert hair > 0.6 and biased.value > real.value + 0.03
    assert real.value < 0.15 and real.name == "attribute distance" and real.features == SYNTHETIC
    assert set(real.details.columns) >= {"attribute", "kind", "distance", "measure", "data", "generated"}
    predicted = metrics.predict_attributes(faces_u8[:200])
    assert (predicted["hair_color"].to_numpy() == table["hair_color"].astype(str).to_numpy()[:200]).mean() > 0.8


def test_attribute_match_reads_both_sides_with_the_predictor():
    """At 32 px the predictor's own errors dominate a comparison with the true table; read on both sides they cancel."""
    faces32 = SyntheticFaces(800, seed=3, image_size=32)
    images, table = faces32.to_uint8(), faces32.attributes
    a, b = images[:400], images[400:]
    against_table = metrics.attribute_match(b, table.iloc[:400])
    read = metrics.attribute_match(b, a)
    assert read.value < 0.1 and read.value < against_table.value - 0.03
    top = metrics.predict_attributes(a)["hair_color"].value_counts().index[0]
    only = torch.tensor((metrics.predict_attributes(b)["hair_color"] == top).to_numpy())
    biased = metrics.attribute_match(b[only], a)
    assert biased.details.set_index("attribute").loc["hair_color", "distance"] > 0.6
    paintings = SyntheticPaintings(400, seed=0, image_size=32).to_uint8()
    assert metrics.attribute_match(paintings[200:], paintings[:200], domain="paintings").value < 0.1
    with pytest.raises(TypeError, match="real images"):
        metrics.attribute_match(b, [1, 2, 3])


def test_evaluate_compares_generated_attributes_with_the_read_reference(faces, small_reference):
    assert small_reference.read_attributes is not None
    assert list(small_reference.read_attributes.columns) == [h["column"] for h in metrics.attribute_heads("faces")]
    assert len(small_reference.read_attributes) == small_reference.n


def test_attribute_distances_by_hand():
    assert metrics.total_variation(["a", "a", "b", "b"], ["a", "a", "a", "a"]) == pytest.approx(0.5)
    assert metrics.wasserstein_1d([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert metrics.wasserstein_1d([0.0, 0.0], [2.0, 2.0, 2.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="predicted columns"):
        metrics.attribute_match(torch.zeros(4, 3, 64, 64, dtype=torch.uint8), pd.DataFrame({"x": [1, 2]}))


# -- evaluate

class _TinyG(nn.Module):
    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(z.view(z.shape[0], -1))).view(-1, 3, 16, 16)


def test_evaluate_gives_one_labelled_row(faces):
    torch.manual_seed(0)
    G = _TinyG().train()
    ref = metrics.reference(faces, n=120)
    row = metrics.evaluate(G, ref, n=120, label="tiny")
    assert list(row.index) == ["tiny"] and G.training
    assert {"fid", "kid", "kid_std", "precision", "recall", "diversity", "duplicate_share", "collapsed",
            "attribute_distance", "features", "n_real", "n_fake"} <= set(row.columns)
    assert row.loc["tiny", "features"] == SYNTHETIC and row.attrs["note"].startswith(SYNTHETIC)
    again = metrics.evaluate(G, ref, n=120, label="tiny")
    assert again.loc["tiny", "fid"] == pytest.approx(row.loc["tiny", "fid"])
    small = SyntheticFaces(100, seed=3)
    from_dataset = metrics.evaluate(G, small, n=60)
    assert from_dataset["n_real"].iloc[0] == 60 and "attribute_distance" in from_dataset.columns
    real_row = metrics.evaluate(faces.to_uint8()[-120:], ref)
    assert real_row["fid"].iloc[0] < 0.2 * row["fid"].iloc[0] and not real_row["collapsed"].iloc[0]
    assert math.isfinite(real_row["attribute_distance"].iloc[0])



def test_evaluate_computes_each_knn_metric_once_and_matches_the_standalone_functions(faces, monkeypatch):
    """The collapse flag reuses the row's k-NN precision and coverage: one computation each, the same numbers."""
    evaluate_module = importlib.import_module("facegen_utils.metrics.evaluate")  # the module, not the function
    torch.manual_seed(0)
    ref = metrics.reference(faces, n=120)
    fake = _TinyG()(torch.randn(120, 8)).detach()
    scores_module = importlib.import_module("facegen_utils.metrics.scores")
    calls = {"precision_recall": 0, "density_coverage": 0}
    for name in calls:
        original = getattr(scores_module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)
        for module in (evaluate_module, scores_module):  # direct calls and those inside the collapse check
            monkeypatch.setattr(module, name, counted)
    row = metrics.evaluate(fake, ref, metrics=("precision_recall", "density_coverage", "mode_collapse")).iloc[0]
    assert calls == {"precision_recall": 1, "density_coverage": 1}
    ff = metrics.extract_features(fake)
    precision, recall = metrics.precision_recall(ref.features, ff)
    density, coverage = metrics.density_coverage(ref.features, ff)
    check = metrics.collapse_check(ref.features, ff)
    assert (row["precision"], row["recall"], row["density"], row["coverage"]) == pytest.approx(
        (precision.value, recall.value, density.value, coverage.value))
    assert (row["duplicate_share"], row["collapsed"]) == (pytest.approx(check["duplicate_share"]), check["collapsed"])


DEFAULT_COLUMNS = ["fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "diversity", "diversity_ratio",
                   "duplicate_share", "collapsed", "attribute_distance", "features", "n_real", "n_fake"]


@pytest.fixture(scope="module")
def small_reference(faces) -> metrics.Reference:
    return metrics.reference(faces, n=120)


def test_evaluate_default_row_and_chosen_metrics(faces_u8, small_reference):
    images = faces_u8[-120:]
    row = metrics.evaluate(images, small_reference)
    assert list(row.columns) == DEFAULT_COLUMNS
    assert list(metrics.DEFAULT_METRICS) == ["fid", "kid", "precision_recall", "density_coverage", "mode_collapse",
                                             "attributes"]
    assert set(metrics.DEFAULT_METRICS) <= set(metrics.names())
    only_fid = metrics.evaluate(images, small_reference, metrics=["fid"])
    assert list(only_fid.columns) == ["fid", "features", "n_real", "n_fake"]
    assert only_fid["fid"].iloc[0] == row["fid"].iloc[0] and only_fid.attrs["note"] == row.attrs["note"]
    assert list(metrics.evaluate(images, small_reference, metrics="kid").columns)[:2] == ["kid", "kid_std"]
    pr = metrics.evaluate(images, small_reference, metrics=["precision_recall", "mode_collapse"])
    assert list(pr.columns)[:6] == ["precision", "recall", "diversity", "diversity_ratio", "duplicate_share",
                                    "collapsed"]
    assert pr[["precision", "recall"]].equals(row[["precision", "recall"]])
    # the collapse report's precision/recall are those of the registered metric's function
    report = metrics.mode_collapse_report(small_reference.features, images)
    precision, recall = metrics.precision_recall(small_reference.features, images)
    assert report["precision"] == precision.value == row["precision"].iloc[0]
    assert report["recall"] == recall.value == row["recall"].iloc[0]
    assert {"diversity_ratio", "duplicate_share", "collapsed", "reason"} <= set(report)
    check = metrics.collapse_check(small_reference.features, images)
    assert "precision" not in check and check["diversity_ratio"] == report["diversity_ratio"]  # the gate reads it
    # no attribute table (a plain image tensor as data): the attributes metric adds no column
    plain = metrics.evaluate(images, faces_u8[:120], metrics=["fid", "attributes"])
    assert list(plain.columns) == ["fid", "features", "n_real", "n_fake"]


class _Annotated:
    """Real-style images with CelebA-like annotations: no procedural attributes to match."""

    def __init__(self, images: torch.Tensor):
        self.images = images
        self.attributes = pd.DataFrame({"image_id": [f"{i:06d}.jpg" for i in range(len(images))],
                                        "Smiling": [i % 2 for i in range(len(images))]})

    def __len__(self) -> int:
        return len(self.images)

    def to_uint8(self) -> torch.Tensor:
        return self.images


def test_real_data_tables_say_the_features_are_not_inception(faces_u8, small_reference, monkeypatch, caplog):
    monkeypatch.setattr(importlib.import_module("facegen_utils.metrics.evaluate"), "_REAL_NOTE_SHOWN", False)
    images = faces_u8[-120:]
    procedural = metrics.evaluate(images, small_reference, metrics=["fid"])
    assert procedural.attrs["note"] == NOTE  # unchanged for the procedural data
    logger.addHandler(caplog.handler)
    try:
        tables = [metrics.evaluate(images, data) for data in (_Annotated(faces_u8[:120]), faces_u8[:120])]
    finally:
        logger.removeHandler(caplog.handler)
    assert all(t.attrs["note"] == metrics.REAL_DATA_NOTE for t in tables)
    assert all("attribute_distance" not in t.columns for t in tables)  # CelebA's annotations are not matched
    assert tables[0]["fid"].iloc[0] == tables[1]["fid"].iloc[0]  # same images, same numbers
    assert caplog.text.count(metrics.REAL_DATA_NOTE) == 1  # logged once per process
    assert 'pip install -e ".[inception]"' in metrics.REAL_DATA_NOTE and "cartoon faces" in metrics.REAL_DATA_NOTE


def test_unknown_metric_names_suggest_the_closest_before_any_work():
    with pytest.raises(ValueError, match="did you mean 'precision_recall'"):
        metrics.evaluate(torch.zeros(2, 3, 8, 8), object(), metrics=["precision"])
    with pytest.raises(ValueError, match="unknown metric 'zzz'; registered: fid, kid"):
        metrics.get_metric("zzz")


def test_registering_a_metric_adds_its_columns(faces_u8, small_reference, monkeypatch):
    registry = importlib.import_module("facegen_utils.metrics.evaluate")
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))

    @metrics.register("mean_norm", ["mean_norm", "dim"])
    def mean_norm(x: metrics.MetricInputs) -> dict[str, float]:
        return {"dim": x.fake.dim, "mean_norm": float(x.fake.values.norm(dim=1).mean()), "ignored": 1.0}

    assert metrics.names()[-1] == "mean_norm" and metrics.get_metric("mean_norm").columns == ("mean_norm", "dim")
    row = metrics.evaluate(faces_u8[-120:], small_reference, metrics=["mean_norm", "fid"])
    assert list(row.columns) == ["mean_norm", "dim", "fid", "features", "n_real", "n_fake"]
    assert row["dim"].iloc[0] == 128 and row["mean_norm"].iloc[0] > 0
    assert "mean_norm" not in metrics.DEFAULT_METRICS

# -- the committed weights and the training script

def test_committed_weights_match_the_training_script():
    script = _script()
    assert metrics.WEIGHTS_PATH.stat().st_size < 2_000_000
    net = metrics.load_feature_net()
    assert net.meta["config_hash"] == script.config_hash(script.CONFIG)
    assert net.meta["version"] == SYNTHETIC and net.feature_dim == 128
    assert script.check(metrics.WEIGHTS_PATH, script.CONFIG) == []


def test_training_script_smoke_run(tmp_path):
    out = tmp_path / "w.pt"
    assert _script().main(["--steps", "2", "--n", "32", "--out", str(out)]) == 0
    net = metrics.load_feature_net(out)
    heads = {h["column"] for h in net.meta["heads"]}
    assert {"domain", "degradation", "hair_color", "horizon"} <= heads
    assert net.embed(torch.rand(2, 3, 64, 64)).shape == (2, 128)


def test_the_shown_table_leaves_recall_out_and_keeps_it_in_the_data():
    table = pd.DataFrame([{"fid": 1.23456, "recall": 0.01, "precision": 0.9, "coverage": 0.6, "density": 1.1,
                           "collapsed": False, "features": "x", "seconds": 3.0}])
    assert list(metrics.shown(table, "seconds").columns) == ["fid", "precision", "coverage", "density", "collapsed",
                                                             "seconds"]
    assert metrics.shown(table)["fid"].iloc[0] == 1.235 and "recall" in table and "Recall" in metrics.RECALL_NOTE
