"""Tests of attnreg.calibration: reliability curves, the expected calibration error and the NLL.

The statistical test draws from a seeded generator and allows 5 binomial standard errors per bin,
so a correct implementation fails with probability below 1e-6, while a miscalibration of 0.05
would be many standard errors away.
"""

import math

import pytest
import torch

from attnreg.calibration import expected_calibration_error, negative_log_likelihood, reliability_curve
from attnreg.stats import binomial_tolerance


def two_class(confidence: torch.Tensor, correct: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (c, 1 - c) for c >= 0.5, so the prediction is class 0; labels 0 where correct."""
    probs = torch.stack([confidence, 1 - confidence], dim=1).double()
    return probs, (~correct.bool()).long()


def test_a_calibrated_predictor_has_an_ece_within_its_sampling_error():
    g = torch.Generator().manual_seed(0)
    n = 50_000
    confidence = 0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    correct = torch.rand(n, generator=g, dtype=torch.float64) < confidence  # right with probability c
    probs, labels = two_class(confidence, correct)
    curve = reliability_curve(probs, labels, bins=10)
    tolerance = sum(count / n * binomial_tolerance(conf, int(count))
                    for conf, count in zip(curve.confidence.tolist(), curve.counts.tolist()) if count > 0)
    ece = expected_calibration_error(probs, labels, bins=10)
    assert 0 <= ece < tolerance
    # the same predictor made 0.05 more confident than it is lands far outside that tolerance
    overconfident, _ = two_class((confidence + 0.05).clamp(max=1.0), correct)
    assert expected_calibration_error(overconfident, labels) > 0.04 > 2 * tolerance


def test_an_overconfident_predictor_gives_the_known_ece():
    # every confidence 0.9, 60 % right: ECE = |0.6 - 0.9| = 0.3, all in the bin (0.8, 0.9]
    confidence = torch.full((10,), 0.9, dtype=torch.float64)
    correct = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    probs, labels = two_class(confidence, correct)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.3)
    curve = reliability_curve(probs, labels)
    assert curve.counts.tolist() == [0] * 8 + [10, 0]
    assert curve.accuracy[8].item() == pytest.approx(0.6) and curve.confidence[8].item() == pytest.approx(0.9)
    assert torch.isnan(curve.accuracy[:8]).all() and torch.isnan(curve.confidence[9])


def test_ece_weights_bins_by_their_share_of_the_inputs():
    # 3 inputs at 0.55 (all right: gap 0.45) and 1 at 0.95 (wrong: gap 0.95): (3 * 0.45 + 0.95) / 4
    probs, labels = two_class(torch.tensor([0.55, 0.55, 0.55, 0.95]), torch.tensor([1, 1, 1, 0]))
    assert expected_calibration_error(probs, labels) == pytest.approx((3 * 0.45 + 0.95) / 4)


def test_bin_edges_belong_to_the_lower_bin_and_confidence_one_to_the_last():
    probs = torch.tensor([[0.5, 0.5], [0.7, 0.3], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1])
    curve = reliability_curve(probs, labels, bins=10)
    assert torch.equal(curve.edges, torch.linspace(0, 1, 11, dtype=torch.float64))
    # confidences 0.5 -> bin (0.4, 0.5], 0.7 -> (0.6, 0.7], 1.0 and 1.0 -> (0.9, 1.0]
    assert curve.counts.tolist() == [0, 0, 0, 0, 1, 0, 1, 0, 0, 2]
    assert curve.accuracy[9].item() == 1.0


def test_the_smallest_possible_confidence_on_an_edge_falls_in_the_bin_below_it():
    # with 3 classes the confidence is at least 1/3, the upper edge of the first of 3 bins
    probs = torch.full((2, 3), 1 / 3, dtype=torch.float64)
    curve = reliability_curve(probs, torch.tensor([0, 1]), bins=3)
    assert curve.counts.tolist() == [2, 0, 0]  # 1/3 <= 1/3: the first of 3 bins, (0, 1/3]
    assert curve.accuracy[0].item() == 0.5


def test_one_bin_gives_the_gap_between_accuracy_and_mean_confidence():
    probs, labels = two_class(torch.tensor([0.6, 0.8, 0.9, 1.0]), torch.tensor([1, 0, 1, 1]))
    assert expected_calibration_error(probs, labels, bins=1) == pytest.approx(abs(0.75 - 0.825))


def test_ece_is_the_same_for_float32_and_float64_and_ignores_empty_bins():
    probs, labels = two_class(torch.tensor([0.65, 0.75, 0.75]), torch.tensor([1, 0, 1]))
    assert expected_calibration_error(probs.float(), labels, bins=20) == pytest.approx(
        expected_calibration_error(probs, labels, bins=20))
    assert not math.isnan(expected_calibration_error(probs, labels, bins=100))


def test_negative_log_likelihood_values_and_floor():
    probs = torch.tensor([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    assert negative_log_likelihood(probs, labels) == pytest.approx((math.log(2) + math.log(10)) / 3)
    assert negative_log_likelihood(probs[2:], torch.tensor([1])) == pytest.approx(-math.log(1e-12))
    assert negative_log_likelihood(probs[2:], torch.tensor([1]), floor=1e-3) == pytest.approx(-math.log(1e-3))


def test_bad_inputs_are_rejected_with_a_message_naming_the_argument():
    probs = torch.tensor([[0.7, 0.3], [0.4, 0.6]])
    labels = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"probs must be 2-dimensional, got shape \(2,\)"):
        reliability_curve(probs[:, 0], labels)
    with pytest.raises(TypeError, match="probs must be a floating-point tensor"):
        expected_calibration_error(probs.long(), labels)
    with pytest.raises(TypeError, match="labels must be an integer tensor of class indices, got dtype torch.float32"):
        expected_calibration_error(probs, labels.float())
    with pytest.raises(ValueError, match="probs and labels must have the same number of rows"):
        reliability_curve(probs, labels[:1])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 1\], got 2"):
        reliability_curve(probs, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 1\], got -1"):
        negative_log_likelihood(probs, torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="probs must hold finite probabilities >= 0"):
        reliability_curve(torch.tensor([[1.2, -0.2], [0.5, 0.5]]), labels)
    with pytest.raises(ValueError, match="probs must have rows that sum to 1 .* got a row sum of 1.5 in row 1"):
        reliability_curve(torch.tensor([[0.5, 0.5], [1.0, 0.5]]), labels)
    with pytest.raises(ValueError, match=r"bins must be an integer in \[1, inf\], got 0"):
        reliability_curve(probs, labels, bins=0)
    with pytest.raises(TypeError, match="bins must be an integer, got 2.5"):
        expected_calibration_error(probs, labels, bins=2.5)
    with pytest.raises(ValueError, match=r"floor must be a probability in \(0, 1\), got 0.0"):
        negative_log_likelihood(probs, labels, floor=0.0)
