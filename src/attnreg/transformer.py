"""The Transformer encoder block, a small encoder for token-level tasks, and its training loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_int, check_positive, check_probability, check_tensor
from .attention.masks import causal_mask
from .attention.multihead import MultiHeadAttention
from .attention.positional import sinusoidal_positional_encoding
from .data.sequences import SequenceSplit
from .device import get_device, model_device
from .training import History, LossFn, fit_epochs, make_optimizer

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


def _torch_activation(layer: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer) -> str:
    """The name in :data:`ACTIVATIONS` of a PyTorch Transformer layer's activation: PyTorch stores
    ``F.relu`` or ``F.gelu`` for ``activation="relu"`` or ``"gelu"``, and a module when given one."""
    name = {F.relu: "relu", F.gelu: "gelu"}.get(layer.activation)
    if name is None:
        name = {nn.ReLU: "relu", nn.GELU: "gelu"}.get(type(layer.activation))
    if name is None:
        raise ValueError(f"layer's activation must be ReLU or GELU, got {layer.activation}")
    return name


def _block_parts(
    embed_dim: int,
    num_heads: int,
    ff_dim: int,
    dropout: float,
    activation: str,
    layer_norm_eps: float,
    bias: bool,
    *,
    num_attentions: int,
) -> tuple[list[MultiHeadAttention], nn.Sequential, list[nn.LayerNorm], list[nn.Dropout]]:
    """Validate a Transformer block's arguments and build its parts, in the order their parameters are created.

    Returns ``num_attentions`` :class:`~attnreg.attention.MultiHeadAttention` sub-layers, the
    feed-forward network ``FFN(x) = Dropout(activation(x W_1 + b_1)) W_2 + b_2`` (``W_1`` is
    ``embed_dim x ff_dim``), and one LayerNorm and one residual Dropout per sub-layer
    (``num_attentions + 1``). :class:`TransformerEncoderBlock` takes one attention,
    :class:`~attnreg.decoder.TransformerDecoderBlock` two (self- and cross-attention).
    """
    ff_dim = check_int("ff_dim", ff_dim, minimum=1)
    dropout = check_probability("dropout", dropout)
    activation = check_choice("activation", activation, ACTIVATIONS)
    layer_norm_eps = check_positive("layer_norm_eps", layer_norm_eps)
    num_attentions = check_int("num_attentions", num_attentions, minimum=1)
    attentions = [MultiHeadAttention(embed_dim, num_heads, dropout=dropout, bias=bias) for _ in range(num_attentions)]
    feed_forward = nn.Sequential(
        nn.Linear(embed_dim, ff_dim, bias=bias), ACTIVATIONS[activation](), nn.Dropout(dropout),
        nn.Linear(ff_dim, embed_dim, bias=bias),
    )
    norms = [nn.LayerNorm(embed_dim, eps=layer_norm_eps, bias=bias) for _ in range(num_attentions + 1)]
    dropouts = [nn.Dropout(dropout) for _ in range(num_attentions + 1)]
    return attentions, feed_forward, norms, dropouts


class TransformerEncoderBlock(nn.Module):
    """Self-attention and a position-wise feed-forward network, each with a residual connection and LayerNorm.

    Post-norm (the original Transformer, ``norm_first=False``)::

        x = LayerNorm(x + Dropout(SelfAttention(x)))
        x = LayerNorm(x + Dropout(FFN(x)))

    Pre-norm (``norm_first=True``)::

        x = x + Dropout(SelfAttention(LayerNorm(x)))
        x = x + Dropout(FFN(LayerNorm(x)))

    with ``FFN(x) = W_2 Dropout(activation(W_1 x + b_1)) + b_2`` applied to every position alone.
    The layout of ``torch.nn.TransformerEncoderLayer(batch_first=True)``; see :meth:`from_torch`.
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
        parts = _block_parts(embed_dim, num_heads, ff_dim, dropout, activation, layer_norm_eps, bias, num_attentions=1)
        self.norm_first = bool(norm_first)
        (self.self_attn,), self.feed_forward, norms, dropouts = parts
        self.norm1, self.norm2 = norms
        self.dropout1, self.dropout2 = dropouts

    def forward(self, x: torch.Tensor, *, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (batch, n, embed_dim) -> (output (batch, n, embed_dim), attention weights (batch, heads, n, n))``.

        ``mask`` (keyword-only; True = attend) is passed to :class:`~attnreg.attention.MultiHeadAttention`.
        ``nn.TransformerEncoderLayer``'s ``src_mask`` means the opposite (True = ignore).
        """
        if self.norm_first:
            normed = self.norm1(x)
            attended, weights = self.self_attn(normed, normed, normed, mask=mask)
            x = x + self.dropout1(attended)
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            attended, weights = self.self_attn(x, x, x, mask=mask)
            x = self.norm1(x + self.dropout1(attended))
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        return x, weights

    @classmethod
    def from_torch(cls, layer: nn.TransformerEncoderLayer) -> TransformerEncoderBlock:
        """A copy of ``layer``'s weights, norm placement, activation and dropout rate."""
        if not isinstance(layer, nn.TransformerEncoderLayer):
            raise TypeError(f"layer must be a torch.nn.TransformerEncoderLayer, got {type(layer).__name__}")
        activation = _torch_activation(layer)
        ours = cls(layer.linear1.in_features, layer.self_attn.num_heads, layer.linear1.out_features,
                   dropout=layer.dropout.p, activation=activation, norm_first=layer.norm_first,
                   layer_norm_eps=layer.norm1.eps, bias=layer.linear1.bias is not None)
        ours.self_attn = MultiHeadAttention.from_torch(layer.self_attn)
        pairs = [(ours.feed_forward[0], layer.linear1), (ours.feed_forward[3], layer.linear2),
                 (ours.norm1, layer.norm1), (ours.norm2, layer.norm2)]
        for mine, theirs in pairs:
            mine.load_state_dict(theirs.state_dict())
        return ours.to(layer.linear1.weight.device, layer.linear1.weight.dtype)


class SequenceTransformer(nn.Module):
    """Token embedding + sinusoidal positions, ``num_layers`` encoder blocks, one linear classifier per position.

    ``logits[b, i] = W h_i + c``, where ``h_i`` is the final representation of position ``i``.
    With ``positional=False`` no position information is added: the model is then
    permutation-equivariant (permuting the input permutes the logits the same way). With
    ``causal=True`` every block uses the causal mask: the logits at position ``i`` depend on the
    tokens ``0..i`` only, as in a decoder that predicts the next token.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_dim: int = 32,
        num_heads: int = 2,
        ff_dim: int = 64,
        num_layers: int = 1,
        max_len: int = 64,
        dropout: float = 0.0,
        norm_first: bool = False,
        positional: bool = True,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        num_classes = check_int("num_classes", num_classes, minimum=1)
        num_layers = check_int("num_layers", num_layers, minimum=1)
        self.max_len = check_int("max_len", max_len, minimum=1)
        self.positional = bool(positional)
        self.causal = bool(causal)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.register_buffer("position_table", sinusoidal_positional_encoding(max_len, embed_dim), persistent=False)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(embed_dim, num_heads, ff_dim, dropout=dropout, norm_first=norm_first)
            for _ in range(num_layers)
        )
        # A pre-norm stack leaves its output un-normalised: one more LayerNorm before the classifier.
        self.final_norm = nn.LayerNorm(embed_dim) if norm_first else nn.Identity()
        self.classifier = nn.Linear(embed_dim, num_classes)

    def encode(self, tokens: torch.Tensor, *, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``tokens (batch, n) -> (representations (batch, n, embed_dim), [weights (batch, heads, n, n) per layer])``.

        ``mask`` (keyword-only; True = attend) is passed to every block; with ``causal=True`` it is
        combined with the causal mask (``&``).
        """
        check_tensor("tokens", tokens, ndim=2)
        if tokens.dtype != torch.long:
            raise TypeError(f"tokens must hold int64 token ids, got dtype {tokens.dtype}")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must have at most max_len={self.max_len} positions, got shape {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"tokens must be ids in [0, {self.vocab_size - 1}], "
                             f"got values from {int(tokens.min())} to {int(tokens.max())}")
        if self.causal:
            future = causal_mask(tokens.shape[1], device=tokens.device)
            mask = future if mask is None else future & mask
        x = self.embedding(tokens)
        if self.positional:
            x = x + self.position_table[: tokens.shape[1]]
        all_weights = []
        for block in self.blocks:
            x, weights = block(x, mask=mask)
            all_weights.append(weights)
        return self.final_norm(x), all_weights

    def forward(self, tokens: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens (batch, n) -> logits (batch, n, num_classes)``; ``mask`` keyword-only, as in :meth:`encode`."""
        return self.classifier(self.encode(tokens, mask=mask)[0])


def _check_tokens_and_targets(X: torch.Tensor, Y: torch.Tensor, x_name: str, y_name: str) -> None:
    check_tensor(x_name, X, ndim=2)
    check_tensor(y_name, Y, ndim=2)
    if X.shape != Y.shape:
        raise ValueError(f"{x_name} and {y_name} must have the same shape (one target per token), "
                         f"got {x_name} of shape {tuple(X.shape)} and {y_name} of shape {tuple(Y.shape)}")
    if Y.dtype != torch.long:
        raise TypeError(f"{y_name} must hold int64 class labels, got dtype {Y.dtype}")


@torch.no_grad()
def evaluate_tokens(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float, float]:
    """Mean cross-entropy per token, token accuracy and sequence accuracy (every token right), in eval mode.

    ``model(X)`` must return logits ``(batch, n, classes)`` for targets ``Y (batch, n)``; the
    model's train/eval mode is restored afterwards.
    """
    _check_tokens_and_targets(X, Y, "X", "Y")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    was_training = model.training
    model.eval()
    total_loss, correct_tokens, correct_sequences = 0.0, 0, 0
    try:
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size].to(device), Y[start:start + batch_size].to(device)
            logits = model(xb)
            total_loss += F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum").item()
            right = logits.argmax(dim=-1) == yb
            correct_tokens += right.sum().item()
            correct_sequences += right.all(dim=1).sum().item()
    finally:
        model.train(was_training)
    return total_loss / Y.numel(), correct_tokens / Y.numel(), correct_sequences / len(Y)


def token_cross_entropy_loss(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """The default loss of :func:`train_token_classifier`: the mean cross-entropy over all tokens,
    ``1/(B n) sum_{b, i} -log softmax(model(X)[b, i])[Y[b, i]]`` for logits ``(B, n, C)``."""
    logits = model(X)  # (batch, n, classes)
    return F.cross_entropy(logits.flatten(0, 1), Y.flatten())


def train_token_classifier(
    model: nn.Module,
    data: SequenceSplit,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    loss_fn: LossFn = token_cross_entropy_loss,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    eval_every: int = 1,
) -> History:
    """:func:`~attnreg.training.train_classifier` for one label per token: by default the loss is the mean cross-entropy over all tokens.

    Same steps as ``train_classifier`` (data moved to ``device`` once, mini-batches in an order
    drawn from a generator seeded with ``seed``, metrics in eval mode after every ``eval_every``
    epochs and after the last); the accuracies recorded in the :class:`~attnreg.training.History`
    are token accuracies. ``loss_fn(model, X, Y)`` gets a mini-batch of token ids ``X (B, n)`` and
    targets ``Y (B, n)`` and returns the scalar to minimise (default
    :func:`token_cross_entropy_loss`; :func:`attnreg.rdrop.rdrop_token_loss_fn` trains with R-Drop).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable loss_fn(model, X, Y), got {type(loss_fn).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    _check_tokens_and_targets(data.X_train, data.Y_train, "data.X_train", "data.Y_train")
    _check_tokens_and_targets(data.X_test, data.Y_test, "data.X_test", "data.Y_test")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    X_train, Y_train = data.X_train.to(device), data.Y_train.to(device)
    X_test, Y_test = data.X_test.to(device), data.Y_test.to(device)
    opt = make_optimizer(model.parameters(), optimizer, lr, weight_decay)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return loss_fn(model, X_train[idx], Y_train[idx])

    def evaluate_splits() -> dict[str, tuple[float, float]]:
        return {"train": evaluate_tokens(model, X_train, Y_train)[:2], "test": evaluate_tokens(model, X_test, Y_test)[:2]}

    return fit_epochs(model, batch_loss, len(X_train), evaluate_splits, opt, epochs=epochs, batch_size=batch_size,
                      seed=seed, progress=progress, eval_every=eval_every)
