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
from .attention import (
    check_additive_score,
    check_bahdanau_step,
    check_masked_softmax,
    check_temperature_gradient,
    check_var_qk,
)
from .bayes import (
    check_laplace_alpha,
    check_log_posterior,
    check_posterior_width,
    check_prior_lambda,
    check_ridge_from_scratch,
)
from .decoder import (
    check_cached_step,
    check_cross_attention,
    check_decoder_block,
    check_decoding_scores,
    check_unmasked_training_prediction,
)
from .dropconnect import (
    check_dropconnect_forward,
    check_dropconnect_layer,
    check_dropconnect_variance,
    check_relu_gaussian_average,
    check_thinned_network_prediction,
)
from .dropout import (
    check_downscale_dropout,
    check_dropout,
    check_dropout_mlp,
    check_logit_variance,
    check_mask_moments,
    check_variance_ratio,
)
from .getting_started import check_accuracy
from .overfitting import (
    check_early_stopping,
    check_early_stopping_shrinkage,
    check_lambda_prediction,
    check_polynomial_coefficients,
)
from .rdrop import (
    check_alpha_for_sequences,
    check_consistency_prediction,
    check_kl_value,
    check_rdrop_step,
    check_symmetric_kl,
    check_symmetric_kl_by_hand,
)
from .regularization import check_l2_penalty, check_soft_threshold, check_weight_decay_step
from .sparsity import check_decay_factor, check_fista_lasso, check_lasso_1d, check_norm_prediction
from .transformer import (
    check_causal_mask,
    check_encoder_block,
    check_head_cost,
    check_merge_heads,
    check_no_mask_prediction,
    check_scaled_dot_product_attention,
    check_split_heads,
)

__all__ = [
    "CaseResult",
    "CheckResult",
    "Exercise",
    "Feedback",
    "Progress",
    "STARS",
    "catalogue",
    "check_accuracy",
    "check_additive_score",
    "check_alpha_for_sequences",
    "check_bahdanau_step",
    "check_cached_step",
    "check_causal_mask",
    "check_consistency_prediction",
    "check_cross_attention",
    "check_decay_factor",
    "check_decoder_block",
    "check_decoding_scores",
    "check_downscale_dropout",
    "check_dropconnect_forward",
    "check_dropconnect_layer",
    "check_dropconnect_variance",
    "check_dropout",
    "check_dropout_mlp",
    "check_early_stopping",
    "check_early_stopping_shrinkage",
    "check_encoder_block",
    "check_fista_lasso",
    "check_head_cost",
    "check_kl_value",
    "check_l2_penalty",
    "check_lambda_prediction",
    "check_laplace_alpha",
    "check_lasso_1d",
    "check_log_posterior",
    "check_logit_variance",
    "check_mask_moments",
    "check_masked_softmax",
    "check_merge_heads",
    "check_no_mask_prediction",
    "check_norm_prediction",
    "check_polynomial_coefficients",
    "check_posterior_width",
    "check_prior_lambda",
    "check_rdrop_step",
    "check_relu_gaussian_average",
    "check_ridge_from_scratch",
    "check_scaled_dot_product_attention",
    "check_soft_threshold",
    "check_split_heads",
    "check_symmetric_kl",
    "check_symmetric_kl_by_hand",
    "check_temperature_gradient",
    "check_thinned_network_prediction",
    "check_unmasked_training_prediction",
    "check_var_qk",
    "check_variance_ratio",
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
