"""The "what this run shows" sentences of the notebooks, computed from their tables of numbers.

Each notebook ends by comparing the report's conclusions with its own run. The rules that turn numbers into a
verdict live here, with their thresholds named, so they are tested once and read the same in every run; each takes
plain pandas objects, dicts and numbers (never a trainer) and returns the lines the student reads:

- notebook 01 (anime faces, GAN / VAE / WGAN / WGAN-GP): :func:`model_comparison`, from the ``scores`` table of
  :func:`facegen_utils.metrics.evaluate`, the :func:`edge_strength` of real and generated faces and each model's
  epochs, generator updates and critic steps;
- notebook 02 (art portraits, MLP WGAN-GP stopped and resumed): :func:`resumed_training`;
- notebook 03 (CelebA, Keras MLP GAN): :func:`keras_gan_run` tests the report's "the discriminator's accuracy
  falls";
- notebook 04 (Monet DCGAN, noise distributions): :func:`noise_study_verdict` on the ``study`` table (one row per
  prior) tests the report's "gamma and shifted normals repeat images", :func:`noise_study_summary` sums it up;
- notebook 05 (CelebA DCGAN): :func:`quality_over_epochs` on the scores at the strip's epochs tests the report's
  "the quality stagnates";
- notebook 06 (diffusion against the DCGAN): :func:`diffusion_vs_gan` reads the sampling study (one row per sampler
  and number of steps, one for the GAN) and the classifier two-sample tests;
- notebook 07 (conditional DCGAN): :func:`conditioning` reads the comparison of the discriminators, the shipped
  generator's accuracy table and the condition swap.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["BLURRY_BELOW", "NOISY_ABOVE", "REPORT_REPEATING_PRIORS", "REPORT_BEST_PRIORS", "SATURATED_DUPLICATE_SHARE",
           "NOT_TESTABLE_DIVERSITY", "DUPLICATE_MARGIN", "DIVERSITY_DROP", "LEVELLED_OFF_SHARE", "VERDICTS",
           "edge_strength", "count_generator_updates", "fid_ranking", "sharpness_flags", "model_comparison",
           "NoiseStudyVerdict", "noise_study_verdict", "noise_study_summary", "last_interval_share",
           "quality_over_epochs", "TARGET_PRECISION", "TARGET_COVERAGE", "quality_target", "longer_training", "direction_effect", "MONOTONE_SLACK",
           "ENOUGH_STEPS_SHARE", "INDISTINGUISHABLE_BELOW", "diffusion_vs_gan", "TARGET_ACCURACY",
           "FEW_CHANGED", "SOME_CHANGED", "conditioning", "resumed_training", "ACCURACY_DROP", "keras_gan_run"]

#: the course's targets for a GAN's final samples in the package's features (benchmarks/notebook_quality.py): most
#: of them look real (precision) and they reach half of the real images' neighbourhoods (coverage, Naeem et al. 2020)
TARGET_PRECISION, TARGET_COVERAGE = 0.7, 0.5


def quality_target(name: str, row: Mapping[str, Any]) -> str:
    """Whether ``name``'s final samples (a row with ``precision`` and ``coverage``) reach the course's targets."""
    reached = row["precision"] >= TARGET_PRECISION and row["coverage"] >= TARGET_COVERAGE
    return (f"{name} {'reaches' if reached else 'does not reach'} the course's targets for final samples: precision "
            f"{row['precision']:.2f} (target {TARGET_PRECISION}), coverage {row['coverage']:.2f} (target "
            f"{TARGET_COVERAGE}).")


def _target_line(row: Mapping[str, Any]) -> list[str]:
    """The :func:`quality_target` line of a run's final row, or none when the row has no precision and coverage."""
    return [f"- {quality_target('This run', row)}"] if {"precision", "coverage"} <= set(row.keys()) else []


def _variety(row: Mapping[str, Any]) -> str:
    """The end of a samples sentence: near-duplicates, diversity relative to the data, and the collapse flag."""
    return (f"{row['duplicate_share']:.0%} near-duplicates, diversity {row['diversity_ratio']:.2f}x that of the data"
            + (" (flagged as mode collapse)." if bool(row["collapsed"]) else "."))


def longer_training(name: str, run: Mapping[str, Any], shipped: Mapping[str, Any], *, run_epochs: int,
                    shipped_epochs: int, shipped_minutes: float, targets: bool = True,
                    architecture: str = "the same architecture", training: str = "",
                    run_steps: int | None = None, shipped_steps: int | None = None) -> str:
    """One sentence comparing this run's final row with the shipped generator's (both with precision, coverage), and
    one naming the training settings that differ, if any.

    ``targets`` False leaves out the course's GAN targets (the VAE is judged by its pictures); ``architecture`` says
    how the shipped network differs from this run's (:func:`facegen_utils.pretrained.architecture_change`),
    ``training`` which training settings do (:func:`facegen_utils.pretrained.training_change`). With both
    ``run_steps`` and ``shipped_steps`` the iterations are named too: an epoch of another dataset size or batch size
    holds another number of them (notebook 04: 9 on its 300 paintings, 32 on the shipped run's 1,024).
    """
    steps = run_steps is not None and shipped_steps is not None
    shipped_span = f"{shipped_steps:,} iterations, " if steps else ""
    run_span = f" ({run_steps:,} iterations)" if steps else ""
    change = shipped["coverage"] - run["coverage"]
    trend = (f"coverage {'rises' if change > 0 else 'falls'} by {abs(change):.2f}" if abs(change) >= 0.05
             else "coverage stays within 0.05")
    reached = shipped["precision"] >= TARGET_PRECISION and shipped["coverage"] >= TARGET_COVERAGE
    verdict = (f", and it {'reaches' if reached else 'does not reach'} the course's targets ({TARGET_PRECISION} / "
               f"{TARGET_COVERAGE})" if targets else "")
    return (f"{name}: trained for {shipped_epochs} epochs ({shipped_span}{shipped_minutes:.0f} min on one CPU thread) "
            f"instead of {run_epochs}{run_span}, {architecture} reaches precision {shipped['precision']:.2f} and "
            f"coverage {shipped['coverage']:.2f} (this run: {run['precision']:.2f} / {run['coverage']:.2f}); {trend}"
            f"{verdict}." + (f" Trained with {training}." if training else ""))


#: a step along a direction may lower its attribute's share by this much and still count as rising (100-200 faces: the
#: predictor's sampling noise)
MONOTONE_SLACK = 0.03


def direction_effect(effect: pd.DataFrame) -> str:
    """One sentence on a table of :func:`facegen_utils.latent.direction_effect` (steps, share, others)."""
    first, last = effect.iloc[0], effect.iloc[-1]
    rises = bool((effect["share"].diff().dropna() >= -MONOTONE_SLACK).all())
    return (f"{effect.attrs.get('direction', 'the direction')}: from step {first['step']:+g} to {last['step']:+g} its "
            f"predicted share goes from {first['share']:.0%} to {last['share']:.0%}"
            f"{' and rises at every step' if rises else ', not at every step'}; the other attributes change by "
            f"{max(first['others'], last['others']):.2f} at most (total variation, 0 = unchanged).")

# --- notebook 01: GAN, VAE, WGAN and WGAN-GP on anime faces (report 000) -------------------------------------------

#: edge strength below this multiple of the real faces' counts as "blurrier than the data" (notebook 01's rule: a
#: fifth less edge energy than the data is well beyond the run-to-run spread of the quick profile)
BLURRY_BELOW = 0.8
#: edge strength above this multiple of the real faces' counts as "noisier than the data" (speckle, not sharpness)
NOISY_ABOVE = 1.2


def edge_strength(images: Any, value_range: Sequence[float]) -> float:
    """Mean absolute difference between neighbouring pixels (in [0, 1] units) of a batch (N, 3, H, W)."""
    from facegen_utils.viz import to_uint8_images

    u = to_uint8_images(images, value_range).astype("float32") / 255
    return float((np.abs(u[:, 1:] - u[:, :-1]).mean() + np.abs(u[:, :, 1:] - u[:, :, :-1]).mean()) / 2)


def count_generator_updates(history: pd.DataFrame, steps: int) -> int:
    """Generator steps taken: the rows of a loss history with a ``loss_G`` (a VAE, without one, steps every batch)."""
    return int(history["loss_G"].notna().sum()) if "loss_G" in history else int(steps)


def fid_ranking(scores: pd.DataFrame) -> str:
    """One sentence ranking the rows of an evaluation table by FID, best first."""
    ranking = scores["fid"].sort_values()
    return (f"Ranking by FID ({scores['features'].iloc[0]} features, lower is better): "
            + ", ".join(f"{v} {ranking[v]:.3g}" for v in ranking.index) + ".")


def sharpness_flags(sharpness: Mapping[str, float], models: Sequence[str]) -> tuple[list[str], list[str]]:
    """The models blurrier and noisier than the real images (``sharpness["real"]``), by edge strength."""
    real = sharpness["real"]
    return ([v for v in models if sharpness[v] < BLURRY_BELOW * real],
            [v for v in models if sharpness[v] > NOISY_ABOVE * real])


def _wgan_comparison(scores: pd.DataFrame, epochs: Mapping[str, int]) -> list[str]:
    """Which of the two WGANs (weight clipping, gradient penalty) reaches the lower FID: one line, none without both."""
    if not {"wgan", "wgan-gp"} <= set(scores.index):
        return []
    better = "gradient penalty" if scores.loc["wgan-gp", "fid"] < scores.loc["wgan", "fid"] else "weight clipping"
    clip, gp = epochs.get("wgan"), epochs.get("wgan-gp")
    after = (f"{clip} epochs" if clip == gp or gp is None
             else f"{clip} (weight clipping) and {gp} (gradient penalty) epochs")
    return [f"Between the two WGANs, the {better} version reaches the lower FID after {after}."]


#: what the collapse sentence lists per model: coverage and near-duplicates decide the flag (metrics.collapse_check)
_COLLAPSE_NUMBERS = (("coverage of the real images", "coverage", ".2f"), ("near-duplicates", "duplicate_share", ".0%"),
                     ("diversity of the samples relative to the data", "diversity_ratio", ".2f"))


def model_comparison(scores: pd.DataFrame, sharpness: Mapping[str, float], *, epochs: Mapping[str, int],
                     generator_updates: Mapping[str, int], n_critic: Mapping[str, int]) -> list[str]:
    """Notebook 01's conclusions: FID ranking, blur and noise, generator updates, mode collapse, WGAN vs WGAN-GP.

    ``scores`` has one row per model (``fid``, ``features``, ``collapsed``, ``diversity_ratio``, ``duplicate_share``);
    ``sharpness`` the edge strength of ``"real"`` and of every model; ``epochs``, ``generator_updates`` and
    ``n_critic`` one value per trained model, in training order."""
    models = list(epochs)
    lines = [fid_ranking(scores)]
    blurry, noisy = sharpness_flags(sharpness, models)
    lines.append((f"Edge strength of the real faces {sharpness['real']:.3f}; "
                  + ", ".join(f"{v} {sharpness[v]:.3f}" for v in models) + ". "
                  + (f"Blurrier than the data: {', '.join(blurry)}. " if blurry else "")
                  + (f"Noisier than the data: {', '.join(noisy)}." if noisy else "")).rstrip())
    if "vae" in models and len(models) > 1:
        blurriest = min(models, key=lambda v: sharpness[v]) == "vae" and "vae" in blurry
        lines.append("The VAE's faces are the blurriest, as the report observed." if blurriest
                     else "Unlike in the report, the VAE's faces are not the blurriest here.")
    slower = [v for v in models if int(n_critic[v]) > 1]
    lines.append("Generator updates: " + ", ".join(f"{v} {generator_updates[v]}" for v in models)
                 + (" (" + ", ".join(f"{v} steps its generator once per {int(n_critic[v])} critic steps"
                                    for v in slower)
                    + f", so {'it has' if len(slower) == 1 else 'they have'} had fewer updates per batch)"
                    if slower else "") + ".")
    collapsed = [v for v in scores.index if bool(scores.loc[v, "collapsed"])]
    details = "; ".join(f"{label}: " + ", ".join(f"{v} {scores.loc[v, column]:{fmt}}" for v in scores.index)
                        for label, column, fmt in _COLLAPSE_NUMBERS if column in scores)
    lines.append("The mode-collapse check flags: " + (", ".join(collapsed) if collapsed else "none of the models")
                 + f" ({details}).")
    gans = [v for v in scores.index if v != "vae" and {"precision", "coverage"} <= set(scores.columns)]
    return lines + _wgan_comparison(scores, epochs) + [quality_target(v, scores.loc[v]) for v in gans]


# --- notebook 02: MLP WGAN-GP on art portraits, trained, stopped and resumed (report 001) ---------------------------

def _direction(early: float, late: float) -> str:
    return "falls" if late < early else "rises"


def resumed_training(per_epoch: pd.DataFrame, scores: pd.DataFrame, *, first_epochs: int, start: str,
                     last_epoch: int, iterations: int) -> list[str]:
    """Notebook 02's conclusions: the resume without a gap, the loss trends the report saw, FID and the collapse flag.

    ``per_epoch`` is the resumed trainer's epoch history (``loss_G``, ``loss_D``), ``scores`` one row per scored
    checkpoint (index: epoch; ``fid``, ``collapsed``); ``first_epochs`` the epochs before the stop, ``start`` the
    checkpoint the run resumed from, ``iterations`` the rows of the whole loss log."""
    third = max(1, len(per_epoch) // 3)
    early, late = per_epoch.iloc[:third], per_epoch.iloc[-third:]
    lines = [f"Trained {first_epochs} epochs, resumed from {start} and trained to epoch {last_epoch}; the loss log "
             f"runs on without a gap ({iterations} iterations)."]
    g, d = ((early[c].mean(), late[c].mean()) for c in ("loss_G", "loss_D"))
    lines.append(f"Mean losses in the first and last third of the epochs: generator {g[0]:.3g} -> {g[1]:.3g} "
                 f"({_direction(*g)}), critic {d[0]:.3g} -> {d[1]:.3g} ({_direction(*d)}); the report saw the "
                 "generator's loss fall and the critic's rise.")
    first_fid, last_fid = scores["fid"].iloc[0], scores["fid"].iloc[-1]
    lines.append(f"FID {first_fid:.3g} at epoch {scores.index[0]} and {last_fid:.3g} at epoch {scores.index[-1]}: "
                 + ("the samples moved closer to the data." if last_fid < first_fid else "no improvement yet."))
    lines.append("Mode collapse flagged at the last checkpoint: "
                 + ("yes" if bool(scores["collapsed"].iloc[-1]) else "no") + ".")
    return lines


# --- notebook 03: the Keras MLP GAN on CelebA (report 002) ----------------------------------------------------------

#: the discriminator's accuracy "falls", as in the report, when its last epoch's mean is this far below the highest
#: batch accuracy of the first epoch (the report: about 98 % after a few batches, about 75 % from the fourth epoch)
ACCURACY_DROP = 0.05


def keras_gan_run(history: pd.DataFrame, per_epoch: pd.DataFrame, row: Mapping[str, Any], *, epochs: int,
                  iterations: int, batch_size: int, dataset: str, image_size: int) -> list[str]:
    """Notebook 03's conclusions: the discriminator's accuracy, the last losses (and on Keras' scale), the samples.

    ``history`` is the per-iteration log (``epoch``, ``d_acc``), ``per_epoch`` its epoch means (``d_acc``,
    ``loss_D``, ``loss_G``), ``row`` the final evaluation row (``fid``, ``features``, ``duplicate_share``,
    ``diversity_ratio``, ``collapsed``, and ``precision`` / ``coverage`` for the course's targets)."""
    peak = float(history.loc[history["epoch"] == history["epoch"].min(), "d_acc"].max())
    last = float(per_epoch["d_acc"].iloc[-1])
    trend = ("falls, as in the report" if last < peak - ACCURACY_DROP
             else "does not fall: the discriminator still separates real from generated images easily")
    loss_D, loss_G = float(per_epoch["loss_D"].iloc[-1]), float(per_epoch["loss_G"].iloc[-1])
    lines = [f"- Discriminator accuracy: up to {peak:.0%} in the first epoch, {last:.0%} on average in epoch "
             f"{epochs}; it {trend}.",
             f"- Losses in the last epoch: D {loss_D:.3f} (Keras scale {loss_D / 2:.3f}), G {loss_G:.3f}; the report "
             "ended near D 0.5, G 1.6.",
             f"- After {epochs} epochs ({iterations} iterations of {batch_size} images) on {dataset} at "
             f"{image_size}x{image_size}: FID {row['fid']:.1f} ({row['features']} features), {_variety(row)}"]
    return lines + _target_line(row)


# --- notebook 04: DCGAN on Monet paintings, does the noise distribution matter? (report 003) ----------------------

#: the priors the report saw repeat images (its Figures 9, 13 and 14)
REPORT_REPEATING_PRIORS = ("gamma(2, 1)", "normal(-1, 1)", "normal(1, 1)")
#: the symmetric priors the report found best (its Figures 7 and 8): the baseline of the comparison
REPORT_BEST_PRIORS = ("uniform(-1, 1)", "normal(0, 1)")
#: when every run's duplicate share is above this, the duplicate share cannot separate the runs (short runs whose
#: samples are all still alike); the diversities still can
SATURATED_DUPLICATE_SHARE = 0.95
#: if even the best priors' samples are less diverse than this share of the data's, nothing can be told apart
NOT_TESTABLE_DIVERSITY = 0.05
#: a prior "repeats" when its duplicate share exceeds the symmetric priors' largest by more than this (5 points)...
DUPLICATE_MARGIN = 0.05
#: ... or its feature or pixel diversity falls below this multiple of the symmetric priors' smallest (a 20 % drop)
DIVERSITY_DROP = 0.8
#: the possible outcomes of :func:`noise_study_verdict`
VERDICTS = ("reproduced", "partly reproduced", "refuted", "not testable in this run", "not tested")


def _canonical(spec: Any) -> str:
    """A prior spec in the package's canonical spelling ("gamma(2,1)" -> "gamma(2, 1)"), or the text as given."""
    from facegen_utils import noise

    try:
        return str(noise.parse(str(spec)))
    except (ValueError, TypeError):
        return str(spec)


def _present(study: pd.DataFrame, specs: Sequence[str]) -> list[str]:
    """The rows of ``study`` (by their own labels) that are among ``specs``, in the order of ``specs``."""
    labels = {_canonical(label): label for label in study.index}
    return [labels[_canonical(s)] for s in specs if _canonical(s) in labels]


@dataclass
class NoiseStudyVerdict:
    """What the noise study says about the report's repetition finding: the verdict and the lines explaining it."""

    verdict: str
    lines: list[str]
    repeats: dict[str, bool] = field(default_factory=dict)  # flagged prior -> less varied than the symmetric ones
    saturated: bool = False

    def __str__(self) -> str:
        return "\n".join(self.lines)


def noise_study_verdict(study: pd.DataFrame, *, profile: str, iterations: int) -> NoiseStudyVerdict:
    """Test the report's "gamma and shifted normals repeat images" on the study table (one row per prior).

    ``study`` needs ``duplicate_share``, ``diversity_ratio``, ``pixel_diversity`` and ``fid``; ``profile`` and
    ``iterations`` (per prior) only go into the sentence."""
    flagged = _present(study, REPORT_REPEATING_PRIORS)
    symmetric = _present(study, REPORT_BEST_PRIORS)
    saturated = bool(study["duplicate_share"].min() > SATURATED_DUPLICATE_SHARE)
    lines = [] if not saturated else [
        "Every run has a near-duplicate for almost every sample (the runs are short and the samples still alike), so "
        "the duplicate share cannot separate them here; the two diversities still can.", ""]
    repeats: dict[str, bool] = {}
    if symmetric and study.loc[symmetric, "diversity_ratio"].max() < NOT_TESTABLE_DIVERSITY:
        verdict = "not testable in this run"
        lines.append(f"Even U(-1, 1) and N(0, 1) still give near-identical images (diversity below "
                     f"{NOT_TESTABLE_DIVERSITY * 100:g} % of the data's): the run is too short to tell whether some "
                     "distributions repeat more than others.")
    elif flagged and symmetric:
        base_dup = study.loc[symmetric, "duplicate_share"].max()
        base_div, base_pix = study.loc[symmetric, ["diversity_ratio", "pixel_diversity"]].min()
        for spec in flagged:
            dup, div, pix = study.loc[spec, ["duplicate_share", "diversity_ratio", "pixel_diversity"]].astype(float)
            repeats[spec] = bool((not saturated and dup > base_dup + DUPLICATE_MARGIN)
                                 or div < DIVERSITY_DROP * base_div or pix < DIVERSITY_DROP * base_pix)
            lines.append(f"{spec}: {dup:.0%} near-duplicates, diversity {div:.3f}x the data's, pixel diversity "
                         f"{pix:.3f} (U(-1, 1) and N(0, 1): at most {base_dup:.0%}, at least {base_div:.3f}x and "
                         f"{base_pix:.3f}) -> "
                         + ("less varied, as the report saw" if repeats[spec] else "as varied as the symmetric priors"))
        found = list(repeats.values())
        verdict = "reproduced" if all(found) else "refuted" if not any(found) else "partly reproduced"
        lines += ["", f"The report's finding that these priors repeat images is {verdict} in this run "
                      f"({profile} profile, {iterations} iterations per distribution, one seed)."]
    else:
        verdict = "not tested"
        lines.append("the chosen priors do not include both groups of the report's comparison")
    best, worst = study["fid"].idxmin(), study["fid"].idxmax()
    lines.append(f"Lowest FID: {best} ({study.loc[best, 'fid']:.2f}); highest: {worst} "
                 f"({study.loc[worst, 'fid']:.2f}).")
    return NoiseStudyVerdict(verdict, lines, repeats, saturated)


def noise_study_summary(study: pd.DataFrame, verdict: str, *, iterations: int, dataset: str, image_size: int,
                        seed: int) -> list[str]:
    """Notebook 04's closing bullet points: the setting, FID ranking, collapse flags, verdict and FID spread."""
    ranking = ", ".join(f"{s} ({v:.2f})" for s, v in study["fid"].sort_values().items())
    collapsed = [s for s in study.index if bool(study.loc[s, "collapsed"])]
    spread = study["fid"].max() - study["fid"].min()
    return [
        f"- {len(study)} distributions, {iterations} iterations each, on {dataset} at {image_size}x{image_size}, "
        f"all from the same initial weights and seed {seed}.",
        f"- FID ranking, best first: {ranking}.",
        f"- Flagged as mode collapse: {', '.join(collapsed) if collapsed else 'none'}.",
        f"- The report's 'gamma and shifted normals repeat images': {verdict}.",
        f"- FID spread between the distributions: {spread:.2f} ({spread / study['fid'].mean():.0%} of the mean FID).",
    ]


# --- notebook 05: the DCGAN of report 004 on CelebA ---------------------------------------------------------------

#: the quality "has levelled off" when the last scored interval brought less than this share of the whole FID
#: improvement (notebook 05's rule for the report's "after a while the quality stagnates")
LEVELLED_OFF_SHARE = 0.15


def last_interval_share(fids: pd.Series) -> float | None:
    """Share of the whole FID improvement (first score to best) made in the last interval; None if none was made."""
    gain = fids.iloc[0] - fids.min() if len(fids) > 1 else 0.0
    return float((fids.iloc[-2] - fids.iloc[-1]) / gain) if gain > 0 else None


def quality_over_epochs(scores: pd.DataFrame, final: Mapping[str, float]) -> list[str]:
    """Notebook 05's conclusions: FID per scored epoch, whether it levelled off, the last losses and the diversity.

    ``scores`` has one row per scored epoch (``epoch``, ``fid``, ``features``, ``duplicate_share``,
    ``diversity_ratio``, ``collapsed``); ``final`` the last epoch's mean ``loss_D``, ``loss_G``, ``d_real`` and
    ``d_fake`` (a row of the trainer's epoch history)."""
    fids = scores.set_index("epoch")["fid"]
    lines = [f"- FID at epochs {', '.join(str(e) for e in fids.index)}: "
             f"{', '.join(f'{v:.2f}' for v in fids)} ({scores['features'].iloc[0]} features)."]
    share = last_interval_share(fids)
    if share is not None:
        lines.append(f"- The last interval (epochs {fids.index[-2]} to {fids.index[-1]}) brought {share:.0%} of the "
                     "whole improvement: " + ("the quality has levelled off, as the report saw."
                                              if share < LEVELLED_OFF_SHARE else
                                              "still improving; the report's stagnation is not reached in this run."))
    elif len(fids) > 1:
        lines.append("- The FID did not improve after the first scored epoch.")
    lines.append(f"- Last epoch: loss_D {final['loss_D']:.3f}, loss_G {final['loss_G']:.3f}, "
                 f"D(x) {final['d_real']:.2f}, D(G(z)) {final['d_fake']:.2f}.")
    row = scores.iloc[-1]
    covered = f"they cover {row['coverage']:.0%} of the real images, " if "coverage" in row else ""
    lines.append(f"- Final samples: {covered}{_variety(row)}")
    return lines + _target_line(row)


#: the fewest sampling steps count as "enough" when their FID is within this share of the best FID of the study
ENOUGH_STEPS_SHARE = 0.10
#: a classifier two-sample test whose held-out accuracy stays below this cannot tell the two sets apart
INDISTINGUISHABLE_BELOW = 0.6


def diffusion_vs_gan(study: pd.DataFrame, c2st: pd.DataFrame | None = None, *, gan: str = "DCGAN",
                     time_column: str = "seconds_per_64") -> list[str]:
    """Sentences on the sampling study (rows "DCGAN", "DDIM-10", ...; ``steps``, ``fid``, ``precision``,
    ``coverage`` and the seconds per 64 samples) and the two-sample tests (index "a vs b", ``accuracy``)."""
    lines = []
    diffusion = study.drop(index=gan, errors="ignore")
    if len(diffusion):
        best = diffusion["fid"].idxmin()
        enough = diffusion[diffusion["fid"] <= diffusion["fid"].min() * (1 + ENOUGH_STEPS_SHARE)]
        fewest = enough.sort_values(["steps", time_column]).index[0]
        lines.append(f"Best diffusion setting here: {best} (FID {diffusion.loc[best, 'fid']:.1f}, precision "
                     f"{diffusion.loc[best, 'precision']:.2f}, coverage {diffusion.loc[best, 'coverage']:.2f}); "
                     f"the fewest steps within {ENOUGH_STEPS_SHARE:.0%} of its FID: {fewest} "
                     f"({enough.loc[fewest, time_column]:.2f} s per 64 samples on this machine).")
        if gan in study.index:
            g = study.loc[gan]
            better = "better" if diffusion.loc[best, "fid"] < g["fid"] else "worse"
            ratio = enough.loc[fewest, time_column] / max(float(g[time_column]), 1e-9)
            lines.append(f"Against the {gan} (FID {g['fid']:.1f}, precision {g['precision']:.2f}, coverage "
                         f"{g['coverage']:.2f}): the diffusion model's best FID is {better}, and {fewest} takes "
                         f"{ratio:,.0f} times the {gan}'s time for the same number of samples (one network pass "
                         f"against {int(enough.loc[fewest, 'steps'])}).")
    if c2st is not None:
        for pair, row in c2st.iterrows():
            verdict = ("cannot tell them apart" if row["accuracy"] < INDISTINGUISHABLE_BELOW
                       else "tells them apart")
            lines.append(f"Classifier two-sample test, {pair}: held-out accuracy {row['accuracy']:.2f} (0.5 = "
                         f"indistinguishable): a small CNN {verdict}.")
    return lines


#: conditioning accuracy the shipped conditional generator must reach for every attribute (500 faces per value)
TARGET_ACCURACY = 0.9
#: a condition swap "keeps the face" when each other attribute changes in at most this fraction of the faces in
#: which it differs between two different faces (condition_swap's reference column)
FEW_CHANGED = 0.5
#: ... and "keeps most of the face" up to this fraction; beyond it the condition drags the face along
SOME_CHANGED = 0.75


def _accuracies(row: Mapping[str, Any]) -> dict[str, float]:
    return {k.removeprefix("accuracy "): float(v) for k, v in row.items() if str(k).startswith("accuracy ")}


def conditioning(comparison: pd.DataFrame, *, epochs: int, shipped: pd.DataFrame | None = None,
                 swap: pd.DataFrame | None = None, judge: str = "the judge") -> list[str]:
    """Sentences on notebook 07's numbers.

    ``comparison``: :func:`facegen_utils.conditioning.compare_generators` (one row per discriminator, columns
    ``accuracy <attribute>``, precision, coverage); ``shipped``: the shipped generator's
    :func:`~facegen_utils.conditioning.conditioning_accuracy` table (with ``share without condition`` if measured);
    ``swap``: :func:`~facegen_utils.conditioning.condition_swap`.
    """
    lines = []
    for name, row in comparison.iterrows():
        acc = _accuracies(row)
        lines.append(f"{name} discriminator, {epochs} epochs: {judge} sees the requested value in "
                     + ", ".join(f"{v:.0%} of the {a} faces" for a, v in acc.items())
                     + f"; precision {row['precision']:.2f}, coverage {row['coverage']:.2f}.")
    if len(comparison) > 1:
        means = comparison[[c for c in comparison.columns if str(c).startswith("accuracy ")]].mean(axis=1)
        best, worst = means.idxmax(), means.idxmin()
        gap = means[best] - means[worst]
        lines.append(f"On the same budget the {best} discriminator conditions better: mean accuracy {means[best]:.2f} "
                     f"against {means[worst]:.2f} ({gap:+.2f})." if gap >= 0.05 else
                     f"On the same budget both discriminators condition alike (mean accuracy within {gap:.2f}).")
        sharper, other = comparison["precision"].idxmax(), comparison["precision"].idxmin()
        if comparison.loc[sharper, "precision"] - comparison.loc[other, "precision"] >= 0.1:
            lines.append(f"The {sharper} discriminator's faces look more real: precision "
                         f"{comparison.loc[sharper, 'precision']:.2f} against {comparison.loc[other, 'precision']:.2f} "
                         f"(coverage {comparison.loc[sharper, 'coverage']:.2f} against "
                         f"{comparison.loc[other, 'coverage']:.2f}).")
    if shipped is not None and len(shipped):
        acc = shipped.groupby("attribute", sort=False)["accuracy"].mean()
        met = bool((acc >= TARGET_ACCURACY).all())
        text = ", ".join(f"{a} {v:.2f}" for a, v in acc.items())
        natural = ""
        if "share without condition" in shipped.columns:
            mean_natural = shipped.groupby("attribute", sort=False)["share without condition"].mean()
            natural = (" where a generator that ignores the condition (notebook 05's DCGAN) shows the value in "
                       + ", ".join(f"{v:.0%}" for v in mean_natural) + " of its faces on average")
        lines.append(f"The shipped generator, trained longer, obeys the condition with mean accuracy {text}"
                     f"{natural}; it {'reaches' if met else 'does not reach'} the target {TARGET_ACCURACY} for "
                     f"every attribute.")
    if swap is not None and len(swap):
        swapped = swap.attrs.get("swapped", swap["attribute"].iloc[0])
        own = float(swap.loc[swap["attribute"] == swapped, "changed"].iloc[0])
        others = swap[swap["attribute"] != swapped]
        text = f"Changing {swapped} at a fixed latent changes the judged {swapped} in {own:.0%} of the faces"
        if len(others):
            ratio = others["changed"] / others["between different faces"].clip(lower=1e-9)
            worst = others.loc[ratio.idxmax()]
            verdict = (": the face stays, only the condition moves." if ratio.max() <= FEW_CHANGED else
                       ": most of the face stays, but the condition drags some features along." if ratio.max()
                       <= SOME_CHANGED else ": the condition also drags other features along.")
            text += (f"; the other attributes change in at most {worst['changed']:.0%} ({worst['attribute']}, "
                     f"against {worst['between different faces']:.0%} between two different faces){verdict}")
        lines.append(text + ("" if len(others) else "."))
    return lines
