"""R-Drop: cross-entropy on two dropout passes plus a symmetric KL divergence between them.

For one example with class distributions ``P`` and ``Q``,

    KL(P || Q)  = sum_c P_c (log P_c - log Q_c)                  (>= 0, zero iff P = Q)
    SKL(P, Q)   = 1/2 (KL(P || Q) + KL(Q || P))
    R-Drop loss = 1/2 (CE(z1, y) + CE(z2, y)) + alpha * SKL(softmax z1, softmax z2)

where ``z1`` and ``z2`` are the logits of two forward passes of the same input through the
same model with independent dropout masks (Liang et al., 2021).

Reductions over a batch of ``B`` rows with ``C`` classes, as in ``torch.nn.functional.kl_div``:

* ``"batchmean"``: the sum over all terms divided by ``B``, the mean per-example KL (the default);
* ``"sum"``: the sum over all terms, ``B`` times larger;
* ``"mean"``: the sum divided by ``B * C``, ``C`` times smaller than the per-example KL;
* ``"none"`` (divergences only, not the loss): one KL per row, shape ``(B,)``.

For token-level models (logits ``(B, n, C)``, one label per token) every token is one row:
:func:`rdrop_token_loss` flattens the ``B n`` tokens into rows, so both of its terms are
per-token means.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_int, check_positive, check_tensor
from .attention.multihead import MultiHeadAttention
from .device import model_device
from .dropout import dropout_only_training, dropout_types as registered_dropout_types
from .training import LossFn

REDUCTIONS = ("batchmean", "sum", "mean", "none")
LOSS_REDUCTIONS = ("batchmean", "sum", "mean")


def _reduce(terms: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce the pointwise terms ``P_c (log P_c - log Q_c)`` of a ``(B, C)`` batch."""
    if reduction == "none":
        return terms.sum(dim=-1)
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean()
    return terms.sum() / terms.shape[0]


def _check_probabilities(name: str, value: object, atol: float = 1e-4) -> torch.Tensor:
    """Check a 1-D distribution or a 2-D batch of distributions (rows) and return it as 2-D."""
    probs = check_tensor(name, value, ndim=(1, 2), floating=True)
    if not torch.isfinite(probs).all() or (probs < 0).any():
        raise ValueError(f"{name} must hold probabilities (finite and >= 0), got a minimum of "
                         f"{probs.min().item():.4g} in {name} of shape {tuple(probs.shape)}")
    rows = probs.reshape(1, -1) if probs.ndim == 1 else probs
    sums = rows.sum(dim=-1)
    worst = sums[(sums - 1).abs().argmax()].item()
    if abs(worst - 1) > atol:
        raise ValueError(f"{name} must hold probability distributions whose entries sum to 1 along the last "
                         f"dimension, got a sum of {worst:.4g}")
    return rows


def _check_logit_pair(name_a: str, a: object, name_b: str, b: object) -> None:
    check_tensor(name_a, a, ndim=2, floating=True)
    check_tensor(name_b, b, ndim=2, floating=True)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape (batch, classes), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def kl_divergence(p: torch.Tensor, q: torch.Tensor, reduction: str = "batchmean") -> torch.Tensor:
    """``KL(P || Q) = sum_c P_c log(P_c / Q_c)`` in nats, for distributions given as probabilities.

    ``p`` and ``q`` are one distribution (1-D) or a batch of distributions (rows of a 2-D tensor);
    a 1-D pair is one example, so ``"batchmean"`` returns its KL. Terms with ``P_c = 0`` count as
    0 (``0 log 0 = 0``); a class with ``P_c > 0`` and ``Q_c = 0`` makes the divergence infinite.
    Divide by ``log 2`` for bits.
    """
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    p2, q2 = _check_probabilities("p", p), _check_probabilities("q", q)
    if p2.shape != q2.shape:
        raise ValueError(f"p and q must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}")
    log_ratio = torch.log(p2) - torch.log(q2)
    terms = torch.where(p2 > 0, p2 * log_ratio, torch.zeros_like(p2))
    return _reduce(terms, reduction)


def symmetric_kl(logits_p: torch.Tensor, logits_q: torch.Tensor, reduction: str = "batchmean") -> torch.Tensor:
    """``1/2 (KL(P || Q) + KL(Q || P))`` with ``P = softmax(logits_p)``, ``Q = softmax(logits_q)`` per row.

    Computed from log-softmax, so it stays finite for any finite logits. Expanding both terms,
    ``SKL = 1/2 sum_c (P_c - Q_c)(log P_c - log Q_c)``. With ``reduction="batchmean"`` it equals
    ``(F.kl_div(log Q, P, reduction="batchmean") + F.kl_div(log P, Q, reduction="batchmean")) / 2``.
    """
    _check_logit_pair("logits_p", logits_p, "logits_q", logits_q)
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    terms = 0.5 * (log_p.exp() - log_q.exp()) * (log_p - log_q)
    return _reduce(terms, reduction)


def _check_targets(name: str, target: object, batch: int, classes: int) -> torch.Tensor:
    """Check that ``target`` holds ``batch`` int64 class indices in ``[0, classes - 1]``."""
    target = check_tensor(name, target, ndim=1)
    if target.dtype != torch.long:
        raise TypeError(f"{name} must hold int64 class indices, got dtype {target.dtype}")
    if len(target) != batch:
        raise ValueError(f"{name} must have one class index per row of the logits ({batch}), got {len(target)}")
    if len(target) and (target.min() < 0 or target.max() >= classes):
        bad = target.min() if target.min() < 0 else target.max()
        raise ValueError(f"{name} must hold class indices in [0, {classes - 1}], got {bad.item()}")
    return target


def rdrop_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    reduction: str = "batchmean",
) -> torch.Tensor:
    """``1/2 (CE(logits1, y) + CE(logits2, y)) + alpha * symmetric_kl(logits1, logits2, reduction)``.

    Cross-entropy is always the batch mean; ``reduction`` applies to the KL term only. With the
    default ``"batchmean"`` both terms are per-example means, so ``alpha`` does not depend on the
    batch size or the number of classes. Other conventions are rescalings of ``alpha``:

    * the README snippet of the official R-Drop code sums the KL over the batch while it averages
      the cross-entropy (``reduction="sum"`` here): its ``alpha`` equals ours divided by the batch
      size ``B``;
    * ``reduction="mean"`` divides the KL by ``B * C``: the same as ``"batchmean"`` with ``alpha / C``;
    * the paper, and the repository's fairseq criterion, write ``CE1 + CE2 + alpha * SKL`` per
      example (per token): twice our loss with ``alpha / 2``, so their ``alpha`` is twice ours.
    """
    _check_logit_pair("logits1", logits1, "logits2", logits2)
    _check_targets("target", target, logits1.shape[0], logits1.shape[1])
    alpha = check_positive("alpha", alpha, allow_zero=True)
    reduction = check_choice("reduction", reduction, LOSS_REDUCTIONS)
    cross_entropy = 0.5 * (F.cross_entropy(logits1, target) + F.cross_entropy(logits2, target))
    if alpha == 0:
        return cross_entropy
    return cross_entropy + alpha * symmetric_kl(logits1, logits2, reduction)


def rdrop_forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two dropout passes in one: ``model(cat([x, x]))`` split into its two halves.

    Each row of the doubled batch draws its own dropout mask, so the halves are two passes with
    independent masks, for the price of one larger batch. The model must be in training mode for
    the passes to differ. Layers that mix rows (BatchNorm in training mode) see ``2B`` rows
    instead of ``B``, so for them this is not the same as two separate calls.
    """
    x = check_tensor("x", x, min_ndim=1)
    batch = x.shape[0]
    logits = model(torch.cat([x, x], dim=0))
    if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or logits.shape[0] != 2 * batch:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"model must return one row per input row ({2 * batch} for the doubled batch), got {shape}")
    return logits[:batch], logits[batch:]


def rdrop_loss_fn(alpha: float, reduction: str = "batchmean") -> LossFn:
    """A ``loss_fn(model, X, y)`` for :func:`attnreg.training.train_classifier` that trains with R-Drop.

    Each call runs :func:`rdrop_forward` on the mini-batch and returns :func:`rdrop_loss`. With
    ``alpha = 0`` it is cross-entropy averaged over two dropout passes.
    """
    alpha = check_positive("alpha", alpha, allow_zero=True)
    reduction = check_choice("reduction", reduction, LOSS_REDUCTIONS)

    def loss_fn(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits1, logits2 = rdrop_forward(model, X)
        return rdrop_loss(logits1, logits2, y, alpha, reduction)

    loss_fn.__qualname__ = f"rdrop_loss_fn(alpha={alpha:g}, reduction={reduction!r})"
    return loss_fn


def rdrop_token_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """:func:`rdrop_loss` for one label per token: logits ``(B, n, C)``, targets ``(B, n)``.

    Every token is one row: with ``N = B n`` tokens,

        1/N sum_{b, i} [1/2 (CE(z1[b, i], y[b, i]) + CE(z2[b, i], y[b, i])) + alpha * SKL(z1[b, i], z2[b, i])],

    the per-token mean of both terms, which is ``rdrop_loss`` on the flattened batch
    ``(N, C)``, ``(N,)``. So ``alpha`` means the same as for a classifier with one label per
    example, whatever the batch size and the sequence length.
    """
    check_tensor("logits1", logits1, ndim=3, floating=True)
    check_tensor("logits2", logits2, ndim=3, floating=True)
    if logits1.shape != logits2.shape:
        raise ValueError(f"logits1 and logits2 must have the same shape (batch, n, classes), "
                         f"got {tuple(logits1.shape)} and {tuple(logits2.shape)}")
    check_tensor("target", target, ndim=2)
    if tuple(target.shape) != tuple(logits1.shape[:2]):
        raise ValueError(f"target must have one class index per token, shape {tuple(logits1.shape[:2])} "
                         f"(batch, n) of the logits, got {tuple(target.shape)}")
    return rdrop_loss(logits1.flatten(0, 1), logits2.flatten(0, 1), target.flatten(), alpha)


def rdrop_token_loss_fn(alpha: float) -> LossFn:
    """A ``loss_fn(model, X, Y)`` for :func:`attnreg.transformer.train_token_classifier` that trains with R-Drop.

    Each call runs :func:`rdrop_forward` on the mini-batch of token ids ``X (B, n)`` and returns
    :func:`rdrop_token_loss` against the targets ``Y (B, n)``. With ``alpha = 0`` it is the
    per-token cross-entropy averaged over two dropout passes.
    """
    alpha = check_positive("alpha", alpha, allow_zero=True)

    def loss_fn(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        logits1, logits2 = rdrop_forward(model, X)
        return rdrop_token_loss(logits1, logits2, Y, alpha)

    loss_fn.__qualname__ = f"rdrop_token_loss_fn(alpha={alpha:g})"
    return loss_fn


@torch.no_grad()
def consistency_kl(
    model: nn.Module,
    X: torch.Tensor,
    batch_size: int = 1024,
    dropout_types: tuple[type[nn.Module], ...] | None = None,
) -> float:
    """Mean symmetric KL between two dropout passes of ``model`` over the inputs ``X``.

    ``1/n sum_i SKL(P1(. | x_i), P2(. | x_i))`` with the dropout layers on, the quantity that
    R-Drop's penalty pushes down; 0 means the sub-models agree on every example. For a
    token-level model (logits ``(B, n, C)``) the mean runs over all tokens, as in
    :func:`rdrop_token_loss`. Only the layers of ``dropout_types`` run in training mode
    (BatchNorm keeps its running statistics), as in :func:`attnreg.dropout.dropout_only_training`,
    and every module's mode is restored afterwards. By default these are
    :func:`attnreg.dropout.dropout_types` (dropout, :class:`~attnreg.dropconnect.DropConnectLinear`
    and any registered type) and :class:`~attnreg.attention.MultiHeadAttention`, whose dropout on
    the attention weights is on in training mode only.
    The masks come from torch's global generator: seed it with :func:`attnreg.set_seed` for
    repeatable values.
    """
    X = check_tensor("X", X, min_ndim=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if len(X) == 0:
        raise ValueError(f"X must hold at least one example, got shape {tuple(X.shape)}")
    if dropout_types is None:
        dropout_types = (*registered_dropout_types(), MultiHeadAttention)
    total, rows = 0.0, 0
    with dropout_only_training(model, dropout_types):
        device = model_device(model, X)
        for start in range(0, len(X), batch_size):
            logits1, logits2 = rdrop_forward(model, X[start:start + batch_size].to(device))
            if logits1.ndim > 2:  # one distribution per token: (B, n, C) -> (B n, C)
                logits1, logits2 = logits1.flatten(0, -2), logits2.flatten(0, -2)
            total += symmetric_kl(logits1, logits2, reduction="sum").item()
            rows += len(logits1)
    return total / rows
