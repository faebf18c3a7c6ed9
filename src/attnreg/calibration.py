"""Calibration of a classifier's probabilities: reliability curves and the expected calibration error.

A classifier is *calibrated* when, among the inputs on which its top class has probability ``c``,
a fraction ``c`` is classified correctly. The reliability curve and the expected calibration error
(ECE) measure this on a finite sample with ``bins`` equal-width confidence bins
``B_b = ((b - 1) / bins, b / bins]`` (the first bin also holds a confidence of exactly 0), as in
Naeini, Cooper and Hauskrecht (2015) and Guo, Pleiss, Sun and Weinberger (2017).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._validation import check_int, check_probability, check_tensor


class ReliabilityCurve(NamedTuple):
    """Per-bin summary of a classifier's confidences; ``NaN`` in the empty bins.

    ``edges`` (``bins + 1``,), and per bin: ``confidence`` (mean top-class probability),
    ``accuracy`` (fraction classified correctly) and ``counts`` (number of inputs), all float64.
    """

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    counts: torch.Tensor


def _check_probs_labels(probs: object, labels: object) -> tuple[torch.Tensor, torch.Tensor]:
    probs = check_tensor("probs", probs, ndim=2, floating=True)
    labels = check_tensor("labels", labels, ndim=1)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor of class indices, got dtype {labels.dtype}")
    if probs.shape[0] != labels.shape[0] or probs.shape[0] == 0:
        raise ValueError(f"probs and labels must have the same number of rows, at least 1, "
                         f"got probs of shape {tuple(probs.shape)} and labels of shape {tuple(labels.shape)}")
    classes = probs.shape[1]
    if labels.min() < 0 or labels.max() >= classes:
        bad = int(labels[(labels < 0) | (labels >= classes)][0])
        raise ValueError(f"labels must be class indices in [0, {classes - 1}], got {bad}")
    probs = probs.detach().double()
    if not torch.isfinite(probs).all() or (probs < 0).any():
        raise ValueError("probs must hold finite probabilities >= 0, got a negative or non-finite entry")
    row_sums = probs.sum(dim=1)
    worst = int((row_sums - 1).abs().argmax())
    if abs(row_sums[worst].item() - 1) > 1e-3:
        raise ValueError(f"probs must have rows that sum to 1 (within 1e-3), got a row sum of "
                         f"{row_sums[worst].item():.6g} in row {worst}")
    return probs, labels.to(probs.device)


def reliability_curve(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> ReliabilityCurve:
    """Mean confidence, accuracy and count of the inputs in each of ``bins`` equal-width bins.

    The confidence of input ``i`` is ``c_i = max_k probs[i, k]`` and its prediction the class of
    that maximum (the first one on ties). Input ``i`` falls in bin ``b`` when
    ``(b - 1) / bins < c_i <= b / bins``; bin ``b`` reports ``conf_b = mean_{i in B_b} c_i``,
    ``acc_b = mean_{i in B_b} 1[prediction_i = labels_i]`` and ``|B_b|``. ``probs`` is ``(n, C)``
    with rows summing to 1, ``labels`` ``(n,)`` integer class indices.
    """
    probs, labels = _check_probs_labels(probs, labels)
    bins = check_int("bins", bins, minimum=1)
    confidence, prediction = probs.max(dim=1)
    correct = (prediction == labels).double()
    edges = torch.linspace(0.0, 1.0, bins + 1, dtype=torch.float64, device=probs.device)
    index = torch.bucketize(confidence, edges[1:-1], right=False)  # edges[b-1] < c <= edges[b]
    counts = torch.zeros(bins, dtype=torch.float64, device=probs.device).index_add_(0, index, torch.ones_like(correct))
    conf_sum = torch.zeros_like(counts).index_add_(0, index, confidence)
    correct_sum = torch.zeros_like(counts).index_add_(0, index, correct)
    return ReliabilityCurve(edges.cpu(), (conf_sum / counts).cpu(), (correct_sum / counts).cpu(), counts.cpu())


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """``ECE = sum_b (|B_b| / n) |acc_b - conf_b|`` over the non-empty bins of :func:`reliability_curve`.

    0 for a calibrated classifier (up to sampling error, of order ``sqrt(c (1 - c) / |B_b|)`` per
    bin); at most 1. With ``bins = 1`` it is ``|accuracy - mean confidence|``.
    """
    curve = reliability_curve(probs, labels, bins)
    filled = curve.counts > 0
    weights = curve.counts[filled] / curve.counts.sum()
    return float((weights * (curve.accuracy[filled] - curve.confidence[filled]).abs()).sum())


def negative_log_likelihood(probs: torch.Tensor, labels: torch.Tensor, floor: float = 1e-12) -> float:
    """Mean negative log-likelihood of the labels, ``-(1/n) sum_i log max(probs[i, labels_i], floor)``.

    The ``floor`` keeps a probability that rounded to 0 from giving an infinite loss.
    """
    probs, labels = _check_probs_labels(probs, labels)
    floor = check_probability("floor", floor, allow_zero=False, allow_one=False)
    picked = probs.gather(1, labels[:, None])[:, 0]
    return float(-picked.clamp_min(floor).log().mean())
