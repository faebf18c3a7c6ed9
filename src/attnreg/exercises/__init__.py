"""Automatic checkers for the exercises at the end of each chapter.

Each ``check_<topic>(answer)`` runs the learner's function (or value) against a reference, prints
one line of feedback per case and returns a :class:`CheckResult` whose ``.passed`` says whether all
passed. ``check_<topic>.hint()`` reveals the exercise's hints one at a time; :func:`progress` shows
which exercises this learner has passed.
"""

from ._framework import (
    CaseResult,
    CheckResult,
    Feedback,
    describe_exception,
    expect_close,
    expect_derived,
    expect_number,
    expect_tensor,
    run_check,
)
from ._registry import STARS, Exercise, Progress, catalogue, exercise, hint, progress, progress_file
from .attention import check_masked_softmax
from .bayes import check_prior_lambda
from .decoder import (
    check_cached_step,
    check_cross_attention,
    check_decoder_block,
    check_decoding_scores,
    check_no_mask_prediction,
)
from .dropconnect import check_dropconnect_forward
from .dropout import check_downscale_dropout, check_dropout
from .getting_started import check_accuracy
from .rdrop import check_symmetric_kl, check_symmetric_kl_by_hand
from .regularization import check_l2_penalty, check_soft_threshold, check_weight_decay_step
from .transformer import check_causal_mask, check_merge_heads, check_scaled_dot_product_attention, check_split_heads

__all__ = [
    "STARS",
    "CaseResult",
    "CheckResult",
    "Exercise",
    "Feedback",
    "Progress",
    "catalogue",
    "check_accuracy",
    "check_cached_step",
    "check_causal_mask",
    "check_cross_attention",
    "check_decoder_block",
    "check_decoding_scores",
    "check_downscale_dropout",
    "check_dropconnect_forward",
    "check_dropout",
    "check_l2_penalty",
    "check_masked_softmax",
    "check_merge_heads",
    "check_no_mask_prediction",
    "check_prior_lambda",
    "check_scaled_dot_product_attention",
    "check_soft_threshold",
    "check_split_heads",
    "check_symmetric_kl",
    "check_symmetric_kl_by_hand",
    "check_weight_decay_step",
    "describe_exception",
    "exercise",
    "expect_close",
    "expect_derived",
    "expect_number",
    "expect_tensor",
    "hint",
    "progress",
    "progress_file",
    "run_check",
]
