"""Honest numbers for generators: FID, KID, precision/recall, density/coverage, diversity, mode collapse and attribute
match.

Every number is a ``MetricResult`` that prints which features it was computed with and on how many images, e.g.
``FID (facegen-synthetic-v1 features, not comparable to published Inception FID) = 12.3 [n=500/500]``.
``features="auto"`` uses the standard Inception-v3 features (torchmetrics) when their weights are on disk
(``FACEGEN_INCEPTION_WEIGHTS`` or the torch hub cache) and the package's own extractor otherwise; nothing is
downloaded. Notebooks call ``evaluate(G, dataset)`` for one table row per model, built from a registry of metrics:
``names()`` lists them and ``evaluate(G, data, metrics=["fid", "kid"])`` computes only those (default:
``DEFAULT_METRICS``, the full row). To add a metric, write one function of a ``MetricInputs`` (real and generated
``Features``, ``seed``, ``extract``) returning ``{column: value}`` (None where it does not apply) and register it::

    @register("mean_norm", ["mean_norm"])  # the mean length of the generated images' feature vectors
    def mean_norm(x: MetricInputs) -> dict[str, float]:
        return {"mean_norm": float(x.fake.values.norm(dim=1).mean())}

Papers: Heusel et al. 2017 (FID), Binkowski et al. 2018 (KID), Kynkaanniemi et al. 2019 (precision/recall), Naeem et
al. 2020 (density/coverage), Lopez-Paz & Oquab 2017 (the classifier two-sample test, ``classifier_two_sample_test``).
"""
from __future__ import annotations

from facegen_utils.metrics.attributes import (attribute_heads, attribute_match, predict_attributes,
                                              total_variation, wasserstein_1d)
from facegen_utils.metrics.evaluate import (DEFAULT_METRICS, REAL_DATA_NOTE, RECALL_NOTE, SHOWN, Metric,
                                            MetricInputs, Reference, evaluate, generate, get_metric, names, reference,
                                            register, shown)
from facegen_utils.metrics.features import (INCEPTION_ENV, WEIGHTS_PATH, FeatureNet, Features, available_features,
                                            extract_features, load_feature_net, resolve_features)
from facegen_utils.metrics.result import INCEPTION, PIXELS, SYNTHETIC, MetricResult
from facegen_utils.metrics.two_sample import (TwoSampleResult, classifier_two_sample_test,
                                              pairwise_two_sample_tests)
from facegen_utils.metrics.scores import (collapse_check, density_coverage, diversity, duplicate_share, fid,
                                          frechet_distance, kid, mode_collapse_report, pair_features, precision_recall)

__all__ = ["MetricResult", "SYNTHETIC", "INCEPTION", "PIXELS", "INCEPTION_ENV", "WEIGHTS_PATH", "Features",
           "FeatureNet", "extract_features", "resolve_features", "available_features", "load_feature_net", "fid", "kid",
           "frechet_distance", "precision_recall", "density_coverage", "diversity", "duplicate_share", "collapse_check",
           "mode_collapse_report", "pair_features", "attribute_heads", "predict_attributes", "attribute_match",
           "total_variation", "wasserstein_1d", "Reference", "reference", "generate", "evaluate", "MetricInputs",
           "Metric", "DEFAULT_METRICS", "REAL_DATA_NOTE", "RECALL_NOTE", "SHOWN", "shown", "register", "names",
           "get_metric", "TwoSampleResult", "classifier_two_sample_test", "pairwise_two_sample_tests"]
