"""The classifier two-sample test: ~0.5 on one distribution, ~1.0 on clearly different sets, reproducible."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import facegen_utils.datasets as fd
from facegen_utils.metrics.two_sample import (TwoSampleResult, _binomial_tail, classifier_two_sample_test,
                                              pairwise_two_sample_tests)

pytestmark = pytest.mark.usefixtures("one_thread")

N = 300  # images per set: 180 held out of 600, so a guessing classifier stays within 0.5 +- 0.11 (3 sd)


@pytest.fixture(scope="module")
def halves() -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sets of 300 synthetic faces at 16x16 in [-1, 1]: one distribution."""
    ds = fd.get("synthetic-faces", image_size=16, n=2 * N)
    items = [ds[i] for i in range(len(ds))]
    x = torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])
    assert ds.value_range == (-1.0, 1.0) and x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.5
    return x[:N], x[N:]


def blurred(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 box blur with replicated borders."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel_size=3, stride=1)


def test_same_distribution_is_indistinguishable(halves):
    result = classifier_two_sample_test(*halves)
    assert abs(result.accuracy - 0.5) <= 0.15
    assert result.p_value > 0.01
    assert (result.n_train, result.n_test) == (420, 180)


@pytest.mark.parametrize("kind", ["blurred", "random noise"])
def test_different_sets_are_told_apart(halves, kind):
    a, b = halves
    other = blurred(b) if kind == "blurred" else torch.rand(b.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    result = classifier_two_sample_test(a, other, label_b=kind)
    assert result.accuracy >= 0.9
    assert result.p_value < 1e-10
    assert str(result).startswith(f"C2ST real vs {kind}: held-out accuracy ")
    assert "(n=180; 0.5 = indistinguishable, p=" in str(result)


def test_same_seed_same_result_and_global_rng_untouched(halves):
    a, b = halves
    other = blurred(b)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = classifier_two_sample_test(a, other, seed=3, epochs=3)
    assert torch.equal(torch.get_rng_state(), state)
    second = classifier_two_sample_test(a, other, seed=3, epochs=3)
    assert first == second
    assert 0.5 < first.accuracy < 1.0  # a partly trained classifier: the equality above is not trivial


def test_runs_under_no_grad_and_inference_mode(halves):
    a, b = halves
    plain = classifier_two_sample_test(a[:60], b[:60], epochs=2)
    with torch.inference_mode():
        a_inf, b_inf = a[:60].clone(), b[:60].clone()
        inside = classifier_two_sample_test(a_inf, b_inf, epochs=2)
    with torch.no_grad():
        assert classifier_two_sample_test(a[:60], b[:60], epochs=2) == plain == inside


def test_unequal_sizes_are_balanced(halves):
    a, b = halves
    result = classifier_two_sample_test(a, b[:100], epochs=1)
    assert (result.n_train, result.n_test) == (140, 60)


def test_mismatched_shapes_name_both():
    a, b = torch.zeros(10, 3, 16, 16), torch.zeros(12, 3, 32, 32)
    with pytest.raises(ValueError) as info:
        classifier_two_sample_test(a, b)
    assert "(10, 3, 16, 16)" in str(info.value) and "(12, 3, 32, 32)" in str(info.value)


def test_too_small_images_give_a_clear_error():
    with pytest.raises(ValueError, match="at least 8x8"):
        classifier_two_sample_test(torch.zeros(20, 3, 7, 16), torch.zeros(20, 3, 7, 16))
    result = classifier_two_sample_test(torch.rand(20, 1, 8, 8), torch.rand(20, 1, 8, 8), epochs=1)  # the minimum
    assert result.n_test == 12


@pytest.mark.parametrize("kwargs, match", [({"holdout": 1.0}, "holdout"), ({"value_range_b": (1, 0)}, "low < high"),
                                           ({"epochs": 0}, "epochs")])
def test_bad_settings_are_refused(halves, kwargs, match):
    with pytest.raises(ValueError, match=match):
        classifier_two_sample_test(*halves, **kwargs)


def test_value_ranges_are_rescaled(halves):
    a, b = halves
    unit = (b + 1) / 2  # the other half as a VAE would give it, in [0, 1]
    assert abs(classifier_two_sample_test(a, unit, value_range_b=(0.0, 1.0)).accuracy - 0.5) <= 0.15
    assert classifier_two_sample_test(a, unit).accuracy >= 0.9  # read as [-1, 1] they are too bright and flat


def test_shared_images_show_as_accuracy_below_one_half(halves):
    a, _ = halves
    unit = (a + 1) / 2  # the very images of a, in [0, 1]: each image is in both sets
    result = classifier_two_sample_test(a, unit, value_range_b=(0.0, 1.0))
    assert result.accuracy < 0.4 and result.p_value > 0.99  # learnt under one label, met under the other


def test_binomial_tail_is_exact():
    assert _binomial_tail(0, 10) == 1.0
    assert _binomial_tail(6, 10) == pytest.approx(386 / 1024, rel=1e-12)
    assert _binomial_tail(10, 10) == 2.0 ** -10
    assert _binomial_tail(11, 10) == 0.0
    assert 0.0 < _binomial_tail(300, 300) < 1e-90
    assert _binomial_tail(150, 300) == pytest.approx(0.5 + 0.5 * 0.04597, abs=1e-4)  # P(X = 150) = 0.04597


def test_result_row_and_tiny_p_value():
    result = TwoSampleResult(accuracy=1.0, n_train=7000, n_test=3000, p_value=0.0, label_a="real", label_b="vae")
    assert result.as_row() == {"pair": "real vs vae", "accuracy": 1.0, "p_value": 0.0, "n_test": 3000}
    assert str(result) == "C2ST real vs vae: held-out accuracy 1.00 (n=3000; 0.5 = indistinguishable, p<1e-300)"


def test_pairwise_table(halves):
    a, b = halves
    sets = {"real": a, "blurred": blurred(b), "vae": (b + 1) / 2}
    table = pairwise_two_sample_tests(sets, [("real", "blurred"), ("real", "vae")], value_ranges={"vae": (0.0, 1.0)},
                                      epochs=10)
    assert list(table.index) == ["real vs blurred", "real vs vae"]
    assert list(table.columns) == ["accuracy", "p_value", "n_test"]
    assert table.loc["real vs blurred", "accuracy"] >= 0.9
    assert abs(table.loc["real vs vae", "accuracy"] - 0.5) <= 0.15
    assert (table["n_test"] == 180).all()


@pytest.mark.parametrize("kwargs, match", [({"pairs": [("real", "gan")]}, "'gan'"),
                                           ({"value_ranges": {"vea": (0, 1)}}, "'vea'"),
                                           ({"label_a": "x"}, "label_a")])
def test_pairwise_errors(halves, kwargs, match):
    options = {"sets": {"real": halves[0], "vae": halves[1]}, "pairs": [("real", "vae")], **kwargs}
    with pytest.raises(ValueError, match=match):
        pairwise_two_sample_tests(**options)
