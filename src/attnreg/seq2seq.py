"""A GRU encoder-decoder with attention, its training loop (teacher forcing) and greedy decoding.

The model follows Luong et al. (2015) with a bidirectional encoder:

- encoder: ``h_j = [GRU_fwd(x)_j ; GRU_bwd(x)_j]``, the keys and the values of attention;
- decoder: ``z_t = GRU(embed(y_{t-1}), z_{t-1})`` with ``z_0 = tanh(W_0 [h_fwd_last ; h_bwd_first])``;
- attention: ``alpha_t = softmax_j s(z_t, h_j)`` over the real (unpadded) source positions,
  ``c_t = sum_j alpha_tj h_j``;
- output: ``p(y_t | y_<t, x) = softmax(W_out tanh(W_c [c_t ; z_t]))``.

Because the decoder's recurrence does not take the context as input, training with teacher
forcing runs the decoder GRU over the whole target at once and computes every step's attention
in one batched call. :class:`BahdanauSeq2Seq` arranges the step as Bahdanau et al. (2015) do:
the previous state is the query and the context is part of the GRU's input.

Shapes: ``B`` sequences, ``n_src`` source and ``n_tgt`` target positions, decoder width ``W``
(``2 * hidden_dim``), ``V`` target tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._validation import check_choice, check_int, check_positive, check_tensor
from .attention import AdditiveScore, BilinearScore, DotScore, ScaledDotScore, attend, padding_mask
from .data.dates import CharVocab, SequencePairs
from .device import get_device, model_device
from .training import History, fit_epochs

SCORES = ("additive", "dot", "scaled_dot", "bilinear")


def make_score(name: str, query_dim: int, key_dim: int, hidden_dim: int | None = None) -> nn.Module:
    """The scoring module called ``name``: ``additive`` (width ``hidden_dim``, default ``key_dim``),
    ``dot``, ``scaled_dot`` or ``bilinear``."""
    name = check_choice("score", name, SCORES)
    if name in ("dot", "scaled_dot") and query_dim != key_dim:
        raise ValueError(f"score={name!r} needs query_dim == key_dim, got query_dim={query_dim} and key_dim={key_dim}")
    if name == "additive":
        return AdditiveScore(query_dim, key_dim, key_dim if hidden_dim is None else hidden_dim)
    if name == "bilinear":
        return BilinearScore(query_dim, key_dim)
    return DotScore() if name == "dot" else ScaledDotScore()


class Seq2Seq(nn.Module):
    """GRU encoder-decoder with attention; ``score`` names the scoring function (see :data:`SCORES`).

    The encoder has ``hidden_dim`` units per direction, so keys are ``2 * hidden_dim`` wide; the
    decoder has ``2 * hidden_dim`` units, so that every scoring function, the dot product
    included, compares vectors of the same width. ``score_hidden_dim`` is the width of the
    additive score's hidden layer (default: the key width). The class attribute ``context_in_gru``
    says whether the decoder GRU also reads the context (False here; True in :class:`BahdanauSeq2Seq`).
    """

    context_in_gru = False

    def __init__(self, source_vocab_size: int, target_vocab_size: int, score: str = "additive",
                 embed_dim: int = 32, hidden_dim: int = 64, score_hidden_dim: int | None = None) -> None:
        super().__init__()
        source_vocab_size = check_int("source_vocab_size", source_vocab_size, minimum=len(CharVocab.SPECIALS) + 1)
        target_vocab_size = check_int("target_vocab_size", target_vocab_size, minimum=len(CharVocab.SPECIALS) + 1)
        embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        width = 2 * hidden_dim
        self.score_name = check_choice("score", score, SCORES)
        self.source_embedding = nn.Embedding(source_vocab_size, embed_dim, padding_idx=CharVocab.PAD)
        self.encoder = nn.GRU(embed_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.initial_state = nn.Linear(width, width)
        self.target_embedding = nn.Embedding(target_vocab_size, embed_dim, padding_idx=CharVocab.PAD)
        self.decoder = nn.GRU(embed_dim + (width if self.context_in_gru else 0), width, batch_first=True)
        if score_hidden_dim is not None:
            score_hidden_dim = check_int("score_hidden_dim", score_hidden_dim, minimum=1)
        self.score = make_score(score, width, width, score_hidden_dim)
        self.combine = nn.Linear(2 * width, width)
        self.output = nn.Linear(width, target_vocab_size)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder states ``(B, n_src, W)``, the key mask ``(B, 1, n_src)`` and the decoder's first state ``(1, B, W)``."""
        source = check_tensor("source", source, ndim=2)
        lengths = check_tensor("lengths", lengths, ndim=1)
        if len(lengths) != len(source) or int(lengths.min()) < 1 or int(lengths.max()) > source.shape[1]:
            raise ValueError(f"lengths must hold one length in [1, {source.shape[1]}] per row of source of shape "
                             f"{tuple(source.shape)}, got lengths of shape {tuple(lengths.shape)}: {lengths.tolist()[:8]}")
        packed = pack_padded_sequence(self.source_embedding(source), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        states, last = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])
        first_decoder_state = torch.tanh(self.initial_state(torch.cat([last[0], last[1]], dim=-1)))
        mask = padding_mask(lengths, source.shape[1])[:, None, :]
        return states, mask, first_decoder_state.unsqueeze(0)

    def readout(self, context: torch.Tensor, decoder_states: torch.Tensor) -> torch.Tensor:
        """Logits ``W_out tanh(W_c [c_t ; z_t])`` ``(B, n, V)`` for contexts and decoder states ``(B, n, W)``."""
        return self.output(torch.tanh(self.combine(torch.cat([context, decoder_states], dim=-1))))

    def decode_step(self, previous: torch.Tensor, state: torch.Tensor, keys: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoder step: ``z_t = GRU(embed(y_{t-1}), z_{t-1})``, attention of ``z_t`` over the keys, readout.

        ``previous (B,)`` holds the tokens ``y_{t-1}``, ``state (1, B, W)`` is ``z_{t-1}``, ``keys
        (B, n_src, W)`` and ``mask (B, 1, n_src)`` come from :meth:`encode`. Returns the logits ``(B, V)``,
        the new state ``z_t`` ``(1, B, W)`` and the attention weights ``(B, n_src)``.
        """
        previous = check_tensor("previous", previous, ndim=1)
        step_state, state = self.decoder(self.target_embedding(previous[:, None]), state)
        context, weights = attend(step_state, keys, score=self.score, mask=mask)
        return self.readout(context, step_state)[:, 0], state, weights[:, 0]

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, target_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: logits ``(B, n_tgt, V)`` and weights ``(B, n_tgt, n_src)`` for the true previous
        tokens ``target_input (B, n_tgt)``."""
        keys, mask, state = self.encode(source, lengths)
        decoder_states, _ = self.decoder(self.target_embedding(target_input), state)
        context, weights = attend(decoder_states, keys, score=self.score, mask=mask)
        return self.readout(context, decoder_states), weights


class BahdanauSeq2Seq(Seq2Seq):
    """:class:`Seq2Seq` with the decoder step of Bahdanau et al. (2015): attend first, then the GRU step.

    - attention with the *previous* state as the query: ``alpha_t = softmax_j s(z_{t-1}, h_j)`` over the
      real source positions, ``c_t = sum_j alpha_tj h_j``;
    - decoder: ``z_t = GRU([embed(y_{t-1}) ; c_t], z_{t-1})``, so ``model.decoder`` reads
      ``embed_dim + W`` numbers;
    - output: ``p(y_t | y_<t, x) = softmax(W_out tanh(W_c [c_t ; z_t]))``, :class:`Seq2Seq`'s readout
      (Bahdanau et al.'s maxout layer also reads ``embed(y_{t-1})``; this model keeps one readout for both).

    The encoder, the first state and the scoring functions are those of :class:`Seq2Seq`. Every step
    needs the state of the step before to attend, so teacher forcing runs the steps one by one.
    """

    context_in_gru = True

    def decode_step(self, previous: torch.Tensor, state: torch.Tensor, keys: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: attention of ``z_{t-1}`` over the keys, ``z_t = GRU([embed(y_{t-1}) ; c_t], z_{t-1})``, readout.

        Arguments and results as in :meth:`Seq2Seq.decode_step`: ``previous (B,)``, ``state (1, B, W)``,
        ``keys (B, n_src, W)``, ``mask (B, 1, n_src)`` -> logits ``(B, V)``, ``z_t`` ``(1, B, W)``, weights ``(B, n_src)``.
        """
        previous = check_tensor("previous", previous, ndim=1)
        context, weights = attend(state.transpose(0, 1), keys, score=self.score, mask=mask)  # query z_{t-1}
        step_state, state = self.decoder(torch.cat([self.target_embedding(previous[:, None]), context], dim=-1), state)
        return self.readout(context, step_state)[:, 0], state, weights[:, 0]

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, target_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing, one :meth:`decode_step` per position of ``target_input (B, n_tgt)``: logits
        ``(B, n_tgt, V)`` and weights ``(B, n_tgt, n_src)``."""
        target_input = check_tensor("target_input", target_input, ndim=2)
        keys, mask, state = self.encode(source, lengths)
        logits, weights = [], []
        for t in range(target_input.shape[1]):
            step_logits, state, step_weights = self.decode_step(target_input[:, t], state, keys, mask)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


@torch.no_grad()
def greedy_decode(model: Seq2Seq, source: torch.Tensor, lengths: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode by feeding back the most likely token ``y_t = argmax p(y | y_<t, x)``, at most ``max_len`` steps.

    Returns the tokens ``(B, max_len)`` (``<pad>`` after a sequence's ``</s>``) and the attention
    weights ``(B, max_len, n_src)`` of every step (zero after ``</s>``). The model's mode is restored.
    """
    _check_model(model)
    max_len = check_int("max_len", max_len, minimum=1)
    was_training = model.training
    model.eval()
    try:
        keys, mask, state = model.encode(source, lengths)
        previous = torch.full((len(source),), CharVocab.BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros(len(source), dtype=torch.bool, device=source.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, step_weights = model.decode_step(previous, state, keys, mask)
            previous = logits.argmax(-1)
            tokens.append(previous.masked_fill(finished, CharVocab.PAD))
            weights.append(step_weights * ~finished[:, None])
            finished |= previous == CharVocab.EOS
            if finished.all():
                break
    finally:
        model.train(was_training)
    tokens, weights = torch.stack(tokens, dim=1), torch.stack(weights, dim=1)
    missing = max_len - tokens.shape[1]  # every sequence ended early: pad to max_len
    return F.pad(tokens, (0, missing), value=CharVocab.PAD), F.pad(weights, (0, 0, 0, missing))


def _check_model(model: object) -> Seq2Seq:
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model must be a Seq2Seq, got {type(model).__name__}")
    return model


def exact_match(model: Seq2Seq, pairs: SequencePairs, batch_size: int = 1000) -> float:
    """Fraction of sequences whose greedy decoding equals the target exactly, ``</s>`` included."""
    _check_model(model)
    pairs = _check_pairs("pairs", pairs)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    correct = 0
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size].to(device)
        expected = batch.target[:, 1:]
        predicted, _ = greedy_decode(model, batch.source, batch.source_lengths, max_len=expected.shape[1])
        correct += int((predicted == expected).all(dim=1).sum())
    return correct / len(pairs)


def sequence_loss(model: Seq2Seq, batch: SequencePairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy per target token under teacher forcing (padding ignored), and the logits."""
    logits, _ = model(batch.source, batch.source_lengths, batch.target[:, :-1])
    expected = batch.target[:, 1:]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), expected.reshape(-1), ignore_index=CharVocab.PAD)
    return loss, logits


@torch.no_grad()
def evaluate_seq2seq(model: Seq2Seq, pairs: SequencePairs, batch_size: int = 1000) -> tuple[float, float]:
    """Teacher-forced token cross-entropy and greedy exact match of ``model`` on ``pairs``, in eval mode."""
    _check_model(model)
    pairs = _check_pairs("pairs", pairs)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        total, tokens = 0.0, 0
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size].to(device)
            loss, _ = sequence_loss(model, batch)
            count = int((batch.target[:, 1:] != CharVocab.PAD).sum())
            total, tokens = total + loss.item() * count, tokens + count
    finally:
        model.train(was_training)
    return total / tokens, exact_match(model, pairs, batch_size)


def _check_pairs(name: str, pairs: object) -> SequencePairs:
    if not isinstance(pairs, SequencePairs):
        raise TypeError(f"{name} must be a SequencePairs, got {type(pairs).__name__}")
    if pairs.target.shape[1] < 2:
        raise ValueError(f"{name}.target must hold at least <s> and </s> per row, got shape {tuple(pairs.target.shape)}")
    return pairs


def train_seq2seq(
    model: Seq2Seq,
    train: SequencePairs,
    test: SequencePairs,
    *,
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 128,
    monitor_size: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> History:
    """Train with Adam on the teacher-forced cross-entropy and record a :class:`~attnreg.training.History`.

    After every epoch, in eval mode: ``train_loss``/``test_loss`` are the teacher-forced token
    cross-entropies and ``train_acc``/``test_acc`` the greedy exact-match rates, measured on the
    first ``monitor_size`` training pairs (default: as many as the test set has) and on the whole
    test set. ``epoch_seconds`` times the training steps alone. Mini-batches follow a permutation
    drawn from a generator seeded with ``seed``.
    """
    _check_model(model)
    return train_translation_model(model, train, test, lambda batch: sequence_loss(model, batch)[0],
                                   lambda pairs: evaluate_seq2seq(model, pairs), epochs=epochs, lr=lr,
                                   batch_size=batch_size, monitor_size=monitor_size, seed=seed, device=device,
                                   progress=progress)


def train_translation_model(
    model: nn.Module,
    train: SequencePairs,
    test: SequencePairs,
    batch_loss: Callable[[SequencePairs], torch.Tensor],
    evaluate: Callable[[SequencePairs], tuple[float, float]],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    monitor_size: int | None,
    seed: int,
    device: torch.device | str | None,
    progress: bool | None,
) -> History:
    """The training loop shared by the course's translators (this GRU model and chapter 02b's Transformer).

    Adam on ``batch_loss`` of each mini-batch; after every epoch ``evaluate`` (loss, exact match) on the
    first ``monitor_size`` training pairs (default: as many as the test set has) and on the test set.
    """
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    train, test = _check_pairs("train", train), _check_pairs("test", test)
    monitor_size = len(test) if monitor_size is None else check_int("monitor_size", monitor_size, minimum=1)
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    train, test = train.to(device), test.to(device)
    monitor = train[:monitor_size]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def evaluate_splits() -> dict[str, tuple[float, float]]:
        return {"train": evaluate(monitor), "test": evaluate(test)}

    return fit_epochs(model, lambda idx: batch_loss(train[idx]), len(train), evaluate_splits, optimizer,
                      epochs=epochs, batch_size=batch_size, seed=seed, progress=progress)
