"""The notebooks' verdicts on hand-made tables: each rule is checked on a case where it holds and one where it fails."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facegen_utils import conclusions as c

# --- notebook 01 -------------------------------------------------------------------------------------------------


def _scores(fids: dict[str, float], *, collapsed: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame({"fid": fids, "features": {v: "facegen-synthetic-v1" for v in fids},
                         "collapsed": {v: v in collapsed for v in fids},
                         "diversity_ratio": {v: 0.9 for v in fids}, "duplicate_share": {v: 0.02 for v in fids}})


FOUR = {"gan": 20.0, "vae": 40.0, "wgan": 35.0, "wgan-gp": 25.0}
EPOCHS = {"gan": 12, "vae": 6, "wgan": 8, "wgan-gp": 8}
UPDATES = {"gan": 384, "vae": 192, "wgan": 128, "wgan-gp": 128}
N_CRITIC = {"gan": 1, "vae": 1, "wgan": 2, "wgan-gp": 2}


def _comparison(scores: pd.DataFrame, sharpness: dict[str, float], models=FOUR) -> list[str]:
    keep = list(models)
    return c.model_comparison(scores, sharpness, epochs={v: EPOCHS[v] for v in keep},
                              generator_updates={v: UPDATES[v] for v in keep},
                              n_critic={v: N_CRITIC[v] for v in keep})


def test_edge_strength_is_zero_for_flat_images_and_higher_for_noise() -> None:
    flat = torch.zeros(4, 3, 8, 8)
    assert c.edge_strength(flat, (-1.0, 1.0)) == 0.0
    stripes = torch.zeros(2, 3, 8, 8)
    stripes[..., ::2] = 1.0  # every column differs from its neighbour by the full range
    assert c.edge_strength(stripes, (0.0, 1.0)) == pytest.approx(0.5)  # full jumps across columns, none across rows
    noisy = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    smooth = torch.linspace(-1, 1, 16).expand(4, 3, 16, 16)
    assert c.edge_strength(noisy, (-1, 1)) > 5 * c.edge_strength(smooth, (-1, 1))
    uint8 = ((stripes * 255).to(torch.uint8))
    assert c.edge_strength(uint8, (0, 255)) == pytest.approx(c.edge_strength(stripes, (0.0, 1.0)))


def test_generator_updates_count_the_rows_with_a_generator_loss() -> None:
    history = pd.DataFrame({"loss_D": [1.0] * 6, "loss_G": [np.nan, 0.5, np.nan, 0.4, np.nan, 0.3]})
    assert c.count_generator_updates(history, 6) == 3
    assert c.count_generator_updates(pd.DataFrame({"loss": [1.0, 0.9]}), 2) == 2  # a VAE steps every batch


def test_fid_ranking_is_best_first() -> None:
    line = c.fid_ranking(_scores(FOUR))
    assert line.startswith("Ranking by FID (facegen-synthetic-v1 features, lower is better): ")
    assert line.endswith("gan 20, wgan-gp 25, wgan 35, vae 40.")


def test_a_blurry_vae_is_detected_as_the_blurriest() -> None:
    sharpness = {"real": 0.10, "gan": 0.095, "vae": 0.05, "wgan": 0.13, "wgan-gp": 0.10}
    blurry, noisy = c.sharpness_flags(sharpness, list(FOUR))
    assert blurry == ["vae"] and noisy == ["wgan"]
    lines = _comparison(_scores(FOUR), sharpness)
    assert "Blurrier than the data: vae. Noisier than the data: wgan." in lines[1]
    assert lines[1].startswith("Edge strength of the real faces 0.100; gan 0.095, vae 0.050, wgan 0.130")
    assert "The VAE's faces are the blurriest, as the report observed." in lines


def test_a_vae_as_sharp_as_the_data_is_not_called_the_blurriest() -> None:
    # the VAE has the lowest edge strength but stays within 80 % of the data's: not blurry by the rule
    sharpness = {"real": 0.10, "gan": 0.10, "vae": 0.085, "wgan": 0.10, "wgan-gp": 0.10}
    lines = _comparison(_scores(FOUR), sharpness)
    assert "Unlike in the report, the VAE's faces are not the blurriest here." in lines
    assert not any("Blurrier than the data" in line for line in lines)
    # and a blurrier GAN takes the title even when the VAE is blurry too
    sharpness = {"real": 0.10, "gan": 0.03, "vae": 0.05, "wgan": 0.10, "wgan-gp": 0.10}
    assert "Unlike in the report, the VAE's faces are not the blurriest here." in _comparison(_scores(FOUR), sharpness)


def test_generator_updates_sentence_names_the_critic_steps() -> None:
    lines = _comparison(_scores(FOUR), {"real": 0.1, **{v: 0.1 for v in FOUR}})
    assert ("Generator updates: gan 384, vae 192, wgan 128, wgan-gp 128 (wgan steps its generator once per 2 critic "
            "steps, wgan-gp steps its generator once per 2 critic steps, so they have had fewer updates per "
            "batch).") in lines
    one_step = {**N_CRITIC, "wgan": 1}
    lines = c.model_comparison(_scores(FOUR), {"real": 0.1, **{v: 0.1 for v in FOUR}}, epochs=EPOCHS,
                               generator_updates=UPDATES, n_critic=one_step)
    assert ("(wgan-gp steps its generator once per 2 critic steps, so it has had fewer updates per batch)."
            in lines[3])
    only_gan = {"gan": 20.0}
    lines = _comparison(_scores(only_gan), {"real": 0.1, "gan": 0.1}, models=only_gan)
    assert "Generator updates: gan 384." in lines
    assert not any("VAE" in line or "WGAN" in line for line in lines)


def test_mode_collapse_sentence_lists_the_flagged_models_with_their_numbers() -> None:
    lines = _comparison(_scores(FOUR, collapsed=("wgan",)), {"real": 0.1, **{v: 0.1 for v in FOUR}})
    collapse = next(line for line in lines if line.startswith("The mode-collapse check flags: "))
    assert collapse.startswith("The mode-collapse check flags: wgan (")
    assert "gan 0.90" in collapse and "wgan-gp 2%" in collapse
    lines = _comparison(_scores(FOUR), {"real": 0.1, **{v: 0.1 for v in FOUR}})
    assert any(line.startswith("The mode-collapse check flags: none of the models") for line in lines)


@pytest.mark.parametrize(("gp_fid", "better"), [(25.0, "gradient penalty"), (45.0, "weight clipping")])
def test_wgan_comparison_sentence(gp_fid: float, better: str) -> None:
    lines = _comparison(_scores({**FOUR, "wgan-gp": gp_fid}), {"real": 0.1, **{v: 0.1 for v in FOUR}})
    assert lines[-1] == f"Between the two WGANs, the {better} version reaches the lower FID after 8 epochs."
    without_gp = {v: f for v, f in FOUR.items() if v != "wgan-gp"}
    lines = _comparison(_scores(without_gp), {"real": 0.1, **{v: 0.1 for v in without_gp}}, models=without_gp)
    assert not any("Between the two WGANs" in line for line in lines)


# --- notebook 04 -------------------------------------------------------------------------------------------------

SEVEN = ["uniform(-1, 1)", "normal(0, 1)", "gamma(2, 1)", "normal(-1, 1)", "normal(1, 1)", "normal(0, 0.01)",
         "normal(0, 100)"]


def _study(rows: dict[str, tuple[float, float, float]], fid: dict[str, float] | None = None) -> pd.DataFrame:
    """prior -> (duplicate_share, diversity_ratio, pixel_diversity)."""
    df = pd.DataFrame(rows, index=["duplicate_share", "diversity_ratio", "pixel_diversity"]).T
    df["fid"] = [fid[s] if fid else 10.0 + i for i, s in enumerate(df.index)]
    df["collapsed"] = df["duplicate_share"] > 0.5
    df.index.name = "prior"
    return df


GOOD = (0.05, 0.90, 0.30)  # few duplicates, as varied as the data
REPEATING = (0.40, 0.50, 0.20)  # many duplicates, half the diversity


def _verdict(study: pd.DataFrame) -> c.NoiseStudyVerdict:
    return c.noise_study_verdict(study, profile="quick", iterations=224)


def test_shifted_priors_that_repeat_reproduce_the_report() -> None:
    study = _study({s: REPEATING if s in c.REPORT_REPEATING_PRIORS else GOOD for s in SEVEN})
    result = _verdict(study)
    assert result.verdict == "reproduced"
    assert result.repeats == {"gamma(2, 1)": True, "normal(-1, 1)": True, "normal(1, 1)": True}
    text = str(result)
    assert "gamma(2, 1): 40% near-duplicates, diversity 0.500x the data's" in text
    assert "-> less varied, as the report saw" in text
    assert ("The report's finding that these priors repeat images is reproduced in this run (quick profile, 224 "
            "iterations per distribution, one seed).") in text
    assert text.splitlines()[-1] == "Lowest FID: uniform(-1, 1) (10.00); highest: normal(0, 100) (16.00)."


def test_shifted_priors_as_varied_as_the_symmetric_ones_refute_the_report() -> None:
    result = _verdict(_study({s: GOOD for s in SEVEN}))
    assert result.verdict == "refuted"
    assert not any(result.repeats.values()) and len(result.repeats) == 3
    assert "as varied as the symmetric priors" in str(result)


def test_small_differences_stay_within_the_margins() -> None:
    # 4 points more duplicates and 15 % less diversity: within DUPLICATE_MARGIN and DIVERSITY_DROP
    close = (GOOD[0] + 0.04, GOOD[1] * 0.85, GOOD[2] * 0.85)
    rows = {s: close if s in c.REPORT_REPEATING_PRIORS else GOOD for s in SEVEN}
    assert _verdict(_study(rows)).verdict == "refuted"


def test_only_some_shifted_priors_repeating_is_partly_reproduced() -> None:
    rows = {s: GOOD for s in SEVEN}
    rows["gamma(2, 1)"] = REPEATING
    rows["normal(1, 1)"] = (GOOD[0], GOOD[1], GOOD[2] * 0.7)  # only the pixel diversity drops
    result = _verdict(_study(rows))
    assert result.verdict == "partly reproduced"
    assert result.repeats == {"gamma(2, 1)": True, "normal(-1, 1)": False, "normal(1, 1)": True}


def test_a_saturated_duplicate_share_is_ignored_but_the_diversities_still_count() -> None:
    # every run is all near-duplicates: the shifted priors' (equal) duplicate share cannot decide anything
    rows = {s: (0.99, 0.60, 0.20) for s in SEVEN}
    result = _verdict(_study(rows))
    assert result.saturated and result.verdict == "refuted"
    assert str(result).startswith("Every run has a near-duplicate for almost every sample")
    # without saturation the same 0.99 vs 0.90 would count as repetition
    rows = {s: (0.90, 0.60, 0.20) for s in SEVEN}
    rows.update({s: (0.99, 0.60, 0.20) for s in c.REPORT_REPEATING_PRIORS})
    assert _verdict(_study(rows)).verdict == "reproduced"
    # saturated, and the shifted priors lose diversity: still detected
    rows = {s: (0.99, 0.60, 0.20) for s in SEVEN}
    rows.update({s: (0.99, 0.30, 0.20) for s in c.REPORT_REPEATING_PRIORS})
    result = _verdict(_study(rows))
    assert result.saturated and result.verdict == "reproduced"


def test_near_identical_images_everywhere_make_it_not_testable() -> None:
    rows = {s: (0.99, 0.01, 0.01) for s in SEVEN}
    result = _verdict(_study(rows))
    assert result.verdict == "not testable in this run" and result.repeats == {}
    assert "too short to tell" in str(result)


@pytest.mark.parametrize("priors", [["uniform(-1, 1)", "normal(0, 1)", "normal(0, 100)"],
                                    ["gamma(2, 1)", "normal(1, 1)"], ["normal(0, 0.01)"]])
def test_missing_groups_are_not_tested(priors: list[str]) -> None:
    result = _verdict(_study({s: GOOD for s in priors}))
    assert result.verdict == "not tested"
    assert "the chosen priors do not include both groups of the report's comparison" in str(result)


def test_priors_are_matched_in_any_spelling() -> None:
    study = _study({"uniform(-1,1)": GOOD, "gamma(2,1)": REPEATING})
    result = _verdict(study)
    assert result.verdict == "reproduced" and result.repeats == {"gamma(2,1)": True}


def test_every_verdict_is_one_of_the_listed_outcomes() -> None:
    partly = {s: GOOD for s in SEVEN} | {"gamma(2, 1)": REPEATING}
    for study in (_study({s: GOOD for s in SEVEN}), _study(partly), _study({"normal(0, 1)": GOOD})):
        assert _verdict(study).verdict in c.VERDICTS


def test_noise_study_summary() -> None:
    study = _study({s: GOOD for s in SEVEN[:3]}, fid={"uniform(-1, 1)": 30.0, "normal(0, 1)": 10.0,
                                                        "gamma(2, 1)": 20.0})
    study.loc["gamma(2, 1)", "collapsed"] = True
    lines = c.noise_study_summary(study, "refuted", iterations=224, dataset="synthetic-paintings", image_size=32,
                                  seed=0)
    assert lines == [
        "- 3 distributions, 224 iterations each, on synthetic-paintings at 32x32, all from the same initial weights "
        "and seed 0.",
        "- FID ranking, best first: normal(0, 1) (10.00), gamma(2, 1) (20.00), uniform(-1, 1) (30.00).",
        "- Flagged as mode collapse: gamma(2, 1).",
        "- The report's 'gamma and shifted normals repeat images': refuted.",
        "- FID spread between the distributions: 20.00 (100% of the mean FID).",
    ]


# --- notebook 05 -------------------------------------------------------------------------------------------------

FINAL = pd.Series({"loss_D": 1.2345, "loss_G": 0.8771, "d_real": 0.61, "d_fake": 0.39})


def _progress(fids: list[float], epochs: list[int] | None = None, collapsed: bool = False) -> pd.DataFrame:
    epochs = epochs or list(range(1, len(fids) + 1))
    return pd.DataFrame({"epoch": epochs, "fid": fids, "features": "facegen-synthetic-v1",
                         "duplicate_share": 0.03, "diversity_ratio": 0.87, "collapsed": collapsed})


def test_levelled_off_when_the_last_interval_brings_little() -> None:
    lines = c.quality_over_epochs(_progress([100.0, 40.0, 30.0, 29.0], [1, 5, 10, 15]), FINAL)
    assert lines[0] == "- FID at epochs 1, 5, 10, 15: 100.00, 40.00, 30.00, 29.00 (facegen-synthetic-v1 features)."
    assert lines[1] == ("- The last interval (epochs 10 to 15) brought 1% of the whole improvement: the quality has "
                        "levelled off, as the report saw.")


def test_still_improving_when_the_last_interval_brings_much() -> None:
    lines = c.quality_over_epochs(_progress([100.0, 80.0, 50.0]), FINAL)
    assert c.last_interval_share(pd.Series([100.0, 80.0, 50.0])) == pytest.approx(0.6)
    assert lines[1] == ("- The last interval (epochs 2 to 3) brought 60% of the whole improvement: still improving; "
                        "the report's stagnation is not reached in this run.")


def test_a_worse_last_score_counts_as_levelled_off() -> None:
    assert c.last_interval_share(pd.Series([100.0, 50.0, 55.0])) == pytest.approx(-0.1)
    assert "levelled off" in c.quality_over_epochs(_progress([100.0, 50.0, 55.0]), FINAL)[1]


def test_no_improvement_and_a_single_score() -> None:
    lines = c.quality_over_epochs(_progress([50.0, 60.0]), FINAL)
    assert lines[1] == "- The FID did not improve after the first scored epoch."
    assert c.last_interval_share(pd.Series([50.0])) is None
    lines = c.quality_over_epochs(_progress([50.0]), FINAL)
    assert len(lines) == 3 and lines[1].startswith("- Last epoch")


def test_final_losses_and_samples() -> None:
    lines = c.quality_over_epochs(_progress([100.0, 40.0], collapsed=True), FINAL)
    assert lines[-2] == "- Last epoch: loss_D 1.234, loss_G 0.877, D(x) 0.61, D(G(z)) 0.39."
    assert lines[-1] == ("- Final samples: 3% near-duplicates, diversity 0.87x that of the data (flagged as mode "
                         "collapse).")
    lines = c.quality_over_epochs(_progress([100.0, 40.0]), FINAL)
    assert lines[-1].endswith("that of the data.")


def test_thresholds_are_the_notebooks() -> None:
    assert (c.BLURRY_BELOW, c.NOISY_ABOVE) == (0.8, 1.2)
    assert (c.SATURATED_DUPLICATE_SHARE, c.NOT_TESTABLE_DIVERSITY, c.DUPLICATE_MARGIN, c.DIVERSITY_DROP) == (
        0.95, 0.05, 0.05, 0.8)
    assert c.LEVELLED_OFF_SHARE == 0.15


def test_coverage_joins_the_collapse_sentences_when_measured() -> None:
    scores = _scores(FOUR, collapsed=("wgan",))
    scores["coverage"] = [0.61, 0.35, 0.04, 0.58]
    lines = _comparison(scores, {"real": 0.1, **{v: 0.1 for v in FOUR}})
    collapse = next(line for line in lines if line.startswith("The mode-collapse check flags: wgan ("))
    assert "coverage of the real images: gan 0.61, vae 0.35, wgan 0.04, wgan-gp 0.58; near-duplicates:" in collapse
    progress = _progress([100.0, 40.0])
    progress["coverage"] = 0.57
    assert c.quality_over_epochs(progress, FINAL)[-1].startswith("- Final samples: they cover 57% of the real images, ")


def test_the_quality_target_sentence_is_computed() -> None:
    assert c.quality_target("gan", {"precision": 0.93, "coverage": 0.73}).startswith("gan reaches the course's")
    assert "does not reach" in c.quality_target("wgan", {"precision": 0.93, "coverage": 0.42})
    assert "does not reach" in c.quality_target("wgan", {"precision": 0.69, "coverage": 0.9})
    progress = _progress([100.0, 40.0])
    progress["precision"], progress["coverage"] = 0.8, 0.6
    assert c.quality_over_epochs(progress, FINAL)[-1] == (
        "- This run reaches the course's targets for final samples: precision 0.80 (target 0.7), coverage 0.60 "
        "(target 0.5).")
    scores = _scores(FOUR)
    scores["precision"], scores["coverage"] = 0.9, [0.6, 0.2, 0.1, 0.55]
    lines = _comparison(scores, {"real": 0.1, **{v: 0.1 for v in FOUR}})
    assert [line.split(" ")[:2] for line in lines[-3:]] == [["gan", "reaches"], ["wgan", "does"], ["wgan-gp", "reaches"]]

# --- notebook 02 ---------------------------------------------------------------------------------------------------


def _epochs(loss_G: list[float], loss_D: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(loss_G) + 1), "loss_G": loss_G, "loss_D": loss_D})


def _checkpoints(fids: dict[int, float], collapsed_last: bool = False) -> pd.DataFrame:
    return pd.DataFrame({"fid": fids, "collapsed": {e: collapsed_last and e == max(fids) for e in fids}})


def test_resumed_training_reads_the_report_s_loss_trends() -> None:
    per_epoch = _epochs([3.0, 2.0, 1.5, 1.0, 0.5, 0.2], [-4.0, -3.0, -2.0, -1.5, -1.0, -0.8])
    lines = c.resumed_training(per_epoch, _checkpoints({5: 80.0, 10: 60.0, 25: 40.0}), first_epochs=20,
                               start="checkpoint_epoch_0020.pt", last_epoch=25, iterations=1600)
    assert lines[0] == ("Trained 20 epochs, resumed from checkpoint_epoch_0020.pt and trained to epoch 25; the loss "
                        "log runs on without a gap (1600 iterations).")
    assert "generator 2.5 -> 0.35 (falls), critic -3.5 -> -0.9 (rises)" in lines[1]
    assert lines[2] == "FID 80 at epoch 5 and 40 at epoch 25: the samples moved closer to the data."
    assert lines[3] == "Mode collapse flagged at the last checkpoint: no."


def test_resumed_training_without_improvement_and_with_a_collapse() -> None:
    per_epoch = _epochs([1.0, 1.0, 2.0], [-1.0, -1.0, -2.0])
    lines = c.resumed_training(per_epoch, _checkpoints({5: 50.0, 10: 55.0}, collapsed_last=True), first_epochs=5,
                               start="checkpoint_epoch_0005.pt", last_epoch=10, iterations=320)
    assert "generator 1 -> 2 (rises), critic -1 -> -2 (falls)" in lines[1]
    assert lines[2].endswith("no improvement yet.") and lines[3].endswith("yes.")


# --- notebook 03 ---------------------------------------------------------------------------------------------------


def _keras(acc_first: list[float], acc_last: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    history = pd.DataFrame({"epoch": [1] * len(acc_first) + [2, 2], "d_acc": acc_first + [acc_last, acc_last]})
    per_epoch = pd.DataFrame({"epoch": [1, 2], "d_acc": [float(np.mean(acc_first)), acc_last],
                              "loss_D": [1.2, 0.9], "loss_G": [1.1, 1.6]})
    return history, per_epoch


ROW = {"fid": 55.55, "features": "facegen-synthetic-v1", "duplicate_share": 0.02, "diversity_ratio": 0.81,
       "collapsed": False, "precision": 0.4, "coverage": 0.33}


def _keras_lines(history: pd.DataFrame, per_epoch: pd.DataFrame, row=ROW) -> list[str]:
    return c.keras_gan_run(history, per_epoch, row, epochs=2, iterations=128, batch_size=32,
                           dataset="synthetic-faces", image_size=32)


def test_keras_gan_run_sees_the_accuracy_fall_as_in_the_report() -> None:
    lines = _keras_lines(*_keras([0.6, 0.98, 0.9], 0.75))
    assert lines[0] == ("- Discriminator accuracy: up to 98% in the first epoch, 75% on average in epoch 2; it falls, "
                        "as in the report.")
    assert lines[1] == ("- Losses in the last epoch: D 0.900 (Keras scale 0.450), G 1.600; the report ended near "
                        "D 0.5, G 1.6.")
    assert lines[2] == ("- After 2 epochs (128 iterations of 32 images) on synthetic-faces at 32x32: FID 55.5 "
                        "(facegen-synthetic-v1 features), 2% near-duplicates, diversity 0.81x that of the data.")
    assert lines[3].startswith("- This run does not reach the course's targets")


def test_keras_gan_run_within_the_drop_does_not_fall() -> None:
    lines = _keras_lines(*_keras([0.9, 0.95], 0.95 - c.ACCURACY_DROP + 0.01), {**ROW, "collapsed": True})
    assert "it does not fall: the discriminator still separates" in lines[0]
    assert lines[2].endswith("(flagged as mode collapse).")
    row = {k: v for k, v in ROW.items() if k not in ("precision", "coverage")}
    assert len(_keras_lines(*_keras([0.9], 0.5), row)) == 3
