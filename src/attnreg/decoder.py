"""The Transformer decoder: causal self-attention, cross-attention to the encoder, and decoding with a key/value cache.

A decoder block (Vaswani et al., 2017), post-norm (``norm_first=False``)::

    y = LayerNorm(y + Dropout(SelfAttention(y, causal mask)))
    y = LayerNorm(y + Dropout(CrossAttention(query=y, key=value=memory)))
    y = LayerNorm(y + Dropout(FFN(y)))

and pre-norm (``norm_first=True``)::

    y = y + Dropout(SelfAttention(LayerNorm(y), causal mask))
    y = y + Dropout(CrossAttention(query=LayerNorm(y), key=value=memory))
    y = y + Dropout(FFN(LayerNorm(y)))

the layout of ``torch.nn.TransformerDecoderLayer(batch_first=True)``. Masks are boolean with
True = may attend, as everywhere in this course (PyTorch's boolean ``tgt_mask``/``memory_mask``
mean the opposite). :class:`TransformerTranslator` stacks encoder and decoder blocks into a
character-level translator for the date task of chapter 01; :meth:`TransformerTranslator.step`
decodes one token at a time with a :class:`KVCache`, so that each step projects only the newest
position instead of recomputing the whole prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_int, check_tensor
from .attention.masks import causal_mask, padding_mask
from .attention.multihead import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads
from .attention.positional import sinusoidal_positional_encoding
from .data.dates import CharVocab, SequencePairs
from .device import model_device
from .seq2seq import _check_pairs, train_translation_model
from .training import History
from .transformer import TransformerEncoderBlock, _block_parts, _torch_activation


@dataclass
class LayerCache:
    """What one decoder block keeps between decoding steps.

    ``keys``/``values`` ``(batch, heads, t, head_dim)``: the self-attention keys and values of the
    ``t`` positions decoded so far (they never change once computed, thanks to the causal mask);
    ``memory_keys``/``memory_values`` ``(batch, heads, n_src, head_dim)``: the cross-attention
    projections of the encoder memory, computed once per source sentence.
    """

    memory_keys: torch.Tensor
    memory_values: torch.Tensor
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]


@dataclass
class KVCache:
    """The per-block caches of a whole decoder, the source mask and the number of positions decoded."""

    layers: list[LayerCache]
    memory_mask: torch.Tensor | None = None  # (batch, 1, n_src), True at real source positions
    length: int = 0
    cross_weights: list[torch.Tensor] = field(default_factory=list)  # per step: (batch, heads, 1, n_src), last block


def _attend(mha: MultiHeadAttention, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
            mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention of ``query (batch, n_q, d_model)`` to keys and values already projected and split into heads."""
    q = split_heads(mha.q_proj(query), mha.num_heads)  # (batch, heads, n_q, head_dim)
    if mask is not None and mask.ndim == 3:
        mask = mask[:, None]  # (batch, 1, n_q or 1, n_k): broadcast over the heads
    heads, weights = scaled_dot_product_attention(q, keys, values, mask, dropout_p=mha.dropout, training=mha.training)
    return mha.out_proj(merge_heads(heads)), weights


class TransformerDecoderBlock(nn.Module):
    """Causal self-attention, cross-attention to the encoder memory and a feed-forward network (see the module docstring).

    ``FFN(y) = W_2 Dropout(activation(W_1 y + b_1)) + b_2``, applied to every position alone.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ) -> None:
        super().__init__()
        parts = _block_parts(embed_dim, num_heads, ff_dim, dropout, activation, layer_norm_eps, bias, num_attentions=2)
        self.norm_first = bool(norm_first)
        (self.self_attn, self.cross_attn), self.feed_forward, norms, dropouts = parts
        self.norm1, self.norm2, self.norm3 = norms
        self.dropout1, self.dropout2, self.dropout3 = dropouts

    def forward(
        self,
        y: torch.Tensor,
        memory: torch.Tensor,
        *,
        self_mask: torch.Tensor | None = None,
        cross_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``y (batch, n_tgt, d_model)``, ``memory (batch, n_src, d_model)`` -> ``(output (batch, n_tgt, d_model),
        self weights (batch, heads, n_tgt, n_tgt), cross weights (batch, heads, n_tgt, n_src))``.

        ``self_mask`` (True = attend, e.g. ``causal_mask(n_tgt)``) masks the self-attention and
        ``cross_mask`` (e.g. ``padding_mask(lengths)[:, None, :]``) the cross-attention; both are
        keyword-only and take the shapes :class:`~attnreg.attention.MultiHeadAttention` takes.
        """
        check_tensor("y", y, ndim=3, floating=True)
        check_tensor("memory", memory, ndim=3, floating=True)
        if self.norm_first:
            normed = self.norm1(y)
            attended, self_weights = self.self_attn(normed, normed, normed, mask=self_mask)
            y = y + self.dropout1(attended)
            normed = self.norm2(y)
            crossed, cross_weights = self.cross_attn(normed, memory, memory, mask=cross_mask)
            y = y + self.dropout2(crossed)
            y = y + self.dropout3(self.feed_forward(self.norm3(y)))
        else:
            attended, self_weights = self.self_attn(y, y, y, mask=self_mask)
            y = self.norm1(y + self.dropout1(attended))
            crossed, cross_weights = self.cross_attn(y, memory, memory, mask=cross_mask)
            y = self.norm2(y + self.dropout2(crossed))
            y = self.norm3(y + self.dropout3(self.feed_forward(y)))
        return y, self_weights, cross_weights

    def start_cache(self, memory: torch.Tensor) -> LayerCache:
        """Project the encoder memory ``(batch, n_src, d_model)`` into this block's cross-attention keys and values, once."""
        check_tensor("memory", memory, ndim=3, floating=True)
        heads = self.cross_attn.num_heads
        return LayerCache(split_heads(self.cross_attn.k_proj(memory), heads),
                          split_heads(self.cross_attn.v_proj(memory), heads))

    def step(self, y: torch.Tensor, cache: LayerCache, *, cross_mask: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: ``y (batch, 1, d_model)`` is the newest position; returns its output and cross weights.

        The newest key and value are appended to ``cache`` (in place); the query of the newest
        position attends to all cached keys, which are exactly the keys the causal mask allows.
        """
        check_tensor("y", y, ndim=3, floating=True)
        if y.shape[1] != 1:
            raise ValueError(f"y must hold one position (the newest), got shape {tuple(y.shape)}")
        heads = self.self_attn.num_heads

        def self_attend(h: torch.Tensor) -> torch.Tensor:
            k_new = split_heads(self.self_attn.k_proj(h), heads)
            v_new = split_heads(self.self_attn.v_proj(h), heads)
            cache.keys = k_new if cache.keys is None else torch.cat([cache.keys, k_new], dim=2)
            cache.values = v_new if cache.values is None else torch.cat([cache.values, v_new], dim=2)
            return _attend(self.self_attn, h, cache.keys, cache.values, None)[0]

        if self.norm_first:
            y = y + self.dropout1(self_attend(self.norm1(y)))
            crossed, weights = _attend(self.cross_attn, self.norm2(y), cache.memory_keys, cache.memory_values, cross_mask)
            y = y + self.dropout2(crossed)
            y = y + self.dropout3(self.feed_forward(self.norm3(y)))
        else:
            y = self.norm1(y + self.dropout1(self_attend(y)))
            crossed, weights = _attend(self.cross_attn, y, cache.memory_keys, cache.memory_values, cross_mask)
            y = self.norm2(y + self.dropout2(crossed))
            y = self.norm3(y + self.dropout3(self.feed_forward(y)))
        return y, weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerDecoderLayer) -> TransformerDecoderBlock:
        """A copy of ``layer``'s weights, norm placement, activation and dropout rate."""
        if not isinstance(layer, nn.TransformerDecoderLayer):
            raise TypeError(f"layer must be a torch.nn.TransformerDecoderLayer, got {type(layer).__name__}")
        activation = _torch_activation(layer)
        ours = cls(layer.linear1.in_features, layer.self_attn.num_heads, layer.linear1.out_features,
                   dropout=layer.dropout.p, activation=activation, norm_first=layer.norm_first,
                   layer_norm_eps=layer.norm1.eps, bias=layer.linear1.bias is not None)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        ours.cross_attn = MultiHeadAttention.from_torch(layer.multihead_attn)
        pairs = [(ours.feed_forward[0], layer.linear1), (ours.feed_forward[3], layer.linear2),
                 (ours.norm1, layer.norm1), (ours.norm2, layer.norm2), (ours.norm3, layer.norm3)]
        for mine, theirs in pairs:
            mine.load_state_dict(theirs.state_dict())
        return ours.to(layer.linear1.weight.device, layer.linear1.weight.dtype)


class TransformerTranslator(nn.Module):
    """An encoder-decoder Transformer for character sequences (chapter 01's date task).

    Tokens are embedded as ``sqrt(d_model) * e(token) + PE(position)`` (``PE`` sinusoidal, ``d_model`` =
    ``embed_dim``); with ``scale_embedding=True`` the embeddings start with standard deviation ``1 / sqrt(d_model)``, so
    that the scaled embeddings and the positions (entries in [-1, 1]) have comparable sizes.
    ``scale_embedding=False`` keeps the same initialisation without the factor ``sqrt(d_model)``: the
    positions then drown the tokens at the start of training. The encoder's self-attention and
    the cross-attention see only the real (unpadded) source positions; the decoder's
    self-attention is causal (``causal=False`` drops that mask, to show what it is for: such a
    model can only be decoded by recomputing the prefix, ``use_cache=False``).
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        *,
        embed_dim: int = 32,
        num_heads: int = 2,
        ff_dim: int = 64,
        num_encoder_layers: int = 1,
        num_decoder_layers: int = 1,
        max_len: int = 64,
        dropout: float = 0.0,
        norm_first: bool = False,
        scale_embedding: bool = True,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.source_vocab_size = check_int("source_vocab_size", source_vocab_size, minimum=len(CharVocab.SPECIALS) + 1)
        self.target_vocab_size = check_int("target_vocab_size", target_vocab_size, minimum=len(CharVocab.SPECIALS) + 1)
        self.embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        num_encoder_layers = check_int("num_encoder_layers", num_encoder_layers, minimum=1)
        num_decoder_layers = check_int("num_decoder_layers", num_decoder_layers, minimum=1)
        self.max_len = check_int("max_len", max_len, minimum=1)
        self.scale = math.sqrt(embed_dim) if scale_embedding else 1.0
        self.causal = bool(causal)
        self.source_embedding = nn.Embedding(source_vocab_size, embed_dim, padding_idx=CharVocab.PAD)
        self.target_embedding = nn.Embedding(target_vocab_size, embed_dim, padding_idx=CharVocab.PAD)
        with torch.no_grad():
            for embedding in (self.source_embedding, self.target_embedding):
                embedding.weight.normal_(0.0, 1 / math.sqrt(embed_dim))
                embedding.weight[CharVocab.PAD].zero_()
        self.register_buffer("position_table", sinusoidal_positional_encoding(max_len, embed_dim), persistent=False)
        self.encoder_blocks = nn.ModuleList(
            TransformerEncoderBlock(embed_dim, num_heads, ff_dim, dropout=dropout, norm_first=norm_first)
            for _ in range(num_encoder_layers))
        self.decoder_blocks = nn.ModuleList(
            TransformerDecoderBlock(embed_dim, num_heads, ff_dim, dropout=dropout, norm_first=norm_first)
            for _ in range(num_decoder_layers))
        # A pre-norm stack leaves its outputs un-normalised: one more LayerNorm after each stack.
        self.encoder_norm = nn.LayerNorm(embed_dim) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(embed_dim) if norm_first else nn.Identity()
        self.output = nn.Linear(embed_dim, target_vocab_size)

    def _embed(self, tokens: torch.Tensor, embedding: nn.Embedding, offset: int = 0) -> torch.Tensor:
        if offset + tokens.shape[1] > self.max_len:
            raise ValueError(f"sequences must have at most max_len={self.max_len} positions, "
                             f"got {offset + tokens.shape[1]}")
        return embedding(tokens) * self.scale + self.position_table[offset:offset + tokens.shape[1]]

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``source (B, n_src)`` and ``lengths (B,)`` -> memory ``(B, n_src, d_model)`` and the key mask ``(B, 1, n_src)``."""
        check_tensor("source", source, ndim=2)
        check_tensor("lengths", lengths, ndim=1)
        if len(lengths) != len(source) or int(lengths.min()) < 1 or int(lengths.max()) > source.shape[1]:
            raise ValueError(f"lengths must hold one length in [1, {source.shape[1]}] per row of source of shape "
                             f"{tuple(source.shape)}, got lengths of shape {tuple(lengths.shape)}")
        mask = padding_mask(lengths, source.shape[1])[:, None, :]
        x = self._embed(source, self.source_embedding)
        for block in self.encoder_blocks:
            x, _ = block(x, mask=mask)
        return self.encoder_norm(x), mask

    def decode(self, target_input: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """All positions at once under the causal mask: logits ``(B, n_tgt, V)`` and the last block's cross weights
        ``(B, heads, n_tgt, n_src)``."""
        check_tensor("target_input", target_input, ndim=2)
        y = self._embed(target_input, self.target_embedding)
        causal = causal_mask(target_input.shape[1], device=target_input.device) if self.causal else None
        cross = None
        for block in self.decoder_blocks:
            y, _, cross = block(y, memory, self_mask=causal, cross_mask=memory_mask)
        return self.output(self.decoder_norm(y)), cross

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, target_input: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: logits ``(B, n_tgt, V)`` for the true previous tokens ``target_input (B, n_tgt)``, and cross weights."""
        memory, mask = self.encode(source, lengths)
        return self.decode(target_input, memory, mask)

    def start(self, source: torch.Tensor, lengths: torch.Tensor) -> KVCache:
        """Encode the source once and prepare an empty :class:`KVCache` for :meth:`step`."""
        memory, mask = self.encode(source, lengths)
        return KVCache([block.start_cache(memory) for block in self.decoder_blocks], mask)

    def step(self, previous: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed the newest tokens ``previous (B,)``; returns the next-token logits ``(B, V)`` and cross weights ``(B, heads, n_src)``.

        The cache grows by one position; the result equals the last position of :meth:`decode`
        on the whole prefix.
        """
        check_tensor("previous", previous, ndim=1)
        if not self.causal:
            raise ValueError("a model trained without the causal mask cannot use the cache: its earlier positions "
                             "change when a token is added; decode it with use_cache=False")
        y = self._embed(previous[:, None], self.target_embedding, offset=cache.length)
        for block, layer_cache in zip(self.decoder_blocks, cache.layers):
            y, weights = block.step(y, layer_cache, cross_mask=cache.memory_mask)
        cache.length += 1
        return self.output(self.decoder_norm(y))[:, 0], weights[:, :, 0]


def _check_translator(model: object) -> TransformerTranslator:
    if not isinstance(model, TransformerTranslator):
        raise TypeError(f"model must be a TransformerTranslator, got {type(model).__name__}")
    return model


@torch.no_grad()
def greedy_translate(model: TransformerTranslator, source: torch.Tensor, lengths: torch.Tensor, max_len: int,
                     *, use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy decoding ``y_t = argmax p(y | y_<t, x)`` for ``max_len`` steps, in eval mode (the mode is restored).

    ``use_cache=True`` runs :meth:`TransformerTranslator.step` with a :class:`KVCache`;
    ``use_cache=False`` recomputes the decoder over the whole prefix at every step (the only way
    for a model built with ``causal=False``). Returns the
    tokens ``(B, max_len)`` (``<pad>`` after a sequence's ``</s>``) and the last block's cross
    weights averaged over the heads ``(B, max_len, n_src)`` (zero after ``</s>``). Every sequence
    runs all ``max_len`` steps, so both ways do the same steps.
    """
    _check_translator(model)
    max_len = check_int("max_len", max_len, minimum=1)
    was_training = model.training
    model.eval()
    try:
        batch = len(source)
        previous = torch.full((batch,), CharVocab.BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
        tokens, weights = [], []
        if use_cache:
            cache = model.start(source, lengths)
        else:
            memory, mask = model.encode(source, lengths)
            prefix = previous[:, None]
        for _ in range(max_len):
            if use_cache:
                logits, step_weights = model.step(previous, cache)
            else:
                all_logits, cross = model.decode(prefix, memory, mask)
                logits, step_weights = all_logits[:, -1], cross[:, :, -1]
            previous = logits.argmax(-1)
            if not use_cache:
                prefix = torch.cat([prefix, previous[:, None]], dim=1)
            tokens.append(previous.masked_fill(finished, CharVocab.PAD))
            weights.append(step_weights.mean(dim=1) * ~finished[:, None])
            finished |= previous == CharVocab.EOS
    finally:
        model.train(was_training)
    return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)


def translator_exact_match(model: TransformerTranslator, pairs: SequencePairs, batch_size: int = 1000,
                           *, use_cache: bool = True) -> float:
    """Fraction of sequences whose greedy decoding equals the target exactly, ``</s>`` included."""
    _check_translator(model)
    pairs = _check_pairs("pairs", pairs)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    correct = 0
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size].to(device)
        expected = batch.target[:, 1:]
        predicted, _ = greedy_translate(model, batch.source, batch.source_lengths, expected.shape[1], use_cache=use_cache)
        correct += int((predicted == expected).all(dim=1).sum())
    return correct / len(pairs)


def translator_loss(model: TransformerTranslator, batch: SequencePairs) -> torch.Tensor:
    """Mean teacher-forced cross-entropy per target token, padding ignored."""
    logits, _ = model(batch.source, batch.source_lengths, batch.target[:, :-1])
    expected = batch.target[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), expected.reshape(-1), ignore_index=CharVocab.PAD)


@torch.no_grad()
def teacher_forced_accuracy(model: TransformerTranslator, pairs: SequencePairs, batch_size: int = 1000) -> float:
    """Fraction of target tokens (padding excluded) predicted right when the true previous tokens are fed in, in eval mode."""
    _check_translator(model)
    pairs = _check_pairs("pairs", pairs)
    device = model_device(model)
    was_training = model.training
    model.eval()
    right, count = 0, 0
    try:
        for start in range(0, len(pairs), check_int("batch_size", batch_size, minimum=1)):
            batch = pairs[start:start + batch_size].to(device)
            logits, _ = model(batch.source, batch.source_lengths, batch.target[:, :-1])
            expected = batch.target[:, 1:]
            real = expected != CharVocab.PAD
            right += int(((logits.argmax(-1) == expected) & real).sum())
            count += int(real.sum())
    finally:
        model.train(was_training)
    return right / count


@torch.no_grad()
def evaluate_translator(model: TransformerTranslator, pairs: SequencePairs, batch_size: int = 1000) -> tuple[float, float]:
    """Teacher-forced token cross-entropy and greedy exact match (with the cache) on ``pairs``, in eval mode."""
    _check_translator(model)
    pairs = _check_pairs("pairs", pairs)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        total, count = 0.0, 0
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size].to(device)
            tokens = int((batch.target[:, 1:] != CharVocab.PAD).sum())
            total, count = total + translator_loss(model, batch).item() * tokens, count + tokens
    finally:
        model.train(was_training)
    return total / count, translator_exact_match(model, pairs, batch_size, use_cache=model.causal)


def train_translator(
    model: TransformerTranslator,
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
    """Adam on the teacher-forced cross-entropy, like :func:`~attnreg.seq2seq.train_seq2seq`.

    After every epoch, in eval mode: ``train_loss``/``test_loss`` are teacher-forced token
    cross-entropies and ``train_acc``/``test_acc`` greedy exact-match rates, on the first
    ``monitor_size`` training pairs (default: as many as the test set has) and on the test set.
    """
    _check_translator(model)
    return train_translation_model(model, train, test, lambda batch: translator_loss(model, batch),
                                   lambda pairs: evaluate_translator(model, pairs), epochs=epochs, lr=lr,
                                   batch_size=batch_size, monitor_size=monitor_size, seed=seed, device=device,
                                   progress=progress)


def input_dependence(layer: Callable[[torch.Tensor], torch.Tensor], n: int, dim: int = 8, seed: int = 0) -> torch.Tensor:
    """``(n, n)`` boolean matrix ``D[i, j]``: does output position ``i`` of ``layer`` depend on input position ``j``?

    Measured with autograd on a random input ``(1, n, dim)``: ``D[i, j]`` is True when the
    gradient of output ``i`` with respect to input ``j`` is not zero.
    """
    n = check_int("n", n, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    x = torch.randn(1, n, dim, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    output = layer(x)
    rows = []
    for i in range(n):
        (grad,) = torch.autograd.grad(output[0, i].sum(), x, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros(n, dtype=torch.bool) if grad is None else grad[0].abs().sum(dim=-1) > 0)
    return torch.stack(rows)


def path_length(dependence: torch.Tensor) -> int:
    """How many layers with this ``dependence`` pattern must be stacked until the last output depends on the first input.

    The number of hops from input 0 to output ``n - 1`` along the graph ``D[i, j]`` (``j -> i``);
    ``-1`` if no stack connects them (a causal layer cannot connect the other way round).
    """
    dependence = check_tensor("dependence", dependence, ndim=2)
    n = dependence.shape[0]
    reach = torch.zeros(n, dtype=torch.bool)
    reach[0] = True
    for hops in range(1, n + 1):
        reach = (dependence.float() @ reach.float()) > 0
        if reach[n - 1]:
            return hops
    return -1


def graph_depth(output: torch.Tensor) -> int:
    """The number of operations on the longest chain of the autograd graph that produced ``output``.

    Operations on one chain must run one after another: the depth counts the *sequential*
    operations, whatever the number of operations that could run side by side.
    """
    check_tensor("output", output)
    if output.grad_fn is None:
        return 0
    depth: dict[object, int] = {}
    stack = [(output.grad_fn, False)]
    while stack:  # iterative post-order, so long recurrences do not exhaust the recursion limit
        node, expanded = stack.pop()
        if node is None or (node in depth and not expanded):
            continue
        if expanded:
            depth[node] = 1 + max((depth.get(child, 0) for child, _ in node.next_functions if child is not None),
                                  default=0)
            continue
        depth.setdefault(node, 0)
        stack.append((node, True))
        stack.extend((child, False) for child, _ in node.next_functions if child is not None and child not in depth)
    return depth[output.grad_fn]
