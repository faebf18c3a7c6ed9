import pytest
import torch
from torch import nn

from attnreg import set_seed
from attnreg.attention import causal_mask, padding_mask
from attnreg.data import SequenceSplit, digit_sequence_task
from attnreg.decoder import TransformerDecoderBlock
from attnreg.transformer import (SequenceTransformer, TransformerEncoderBlock, _block_parts, evaluate_tokens,
                                 token_cross_entropy_loss, train_token_classifier)

ATOL = 1e-5


def torch_layer_and_ours(norm_first: bool, activation: str = "relu", bias: bool = True):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first, bias=bias)
    with torch.no_grad():  # non-default LayerNorm and bias values, so that copying them is tested
        for param in layer.parameters():
            if param.ndim == 1:
                param.normal_()
    return layer.eval(), TransformerEncoderBlock.from_torch(layer).eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_equals_pytorch_encoder_layer(norm_first, activation):
    layer, ours = torch_layer_and_ours(norm_first, activation)
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(1))
    output, weights = ours(x)
    assert weights.shape == (3, 4, 7, 7)
    assert torch.allclose(output, layer(x), atol=ATOL)
    with torch.no_grad():  # PyTorch's fused inference path
        assert torch.allclose(ours(x)[0], layer(x), atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_block_equals_pytorch_with_masks(norm_first):
    layer, ours = torch_layer_and_ours(norm_first)
    x = torch.randn(3, 6, 16, generator=torch.Generator().manual_seed(2))
    causal = causal_mask(6)
    assert torch.allclose(ours(x, mask=causal)[0], layer(x, src_mask=~causal), atol=ATOL)
    keep = padding_mask(torch.tensor([6, 3, 5]))
    output, _ = ours(x, mask=keep[:, None, :])
    expected = layer(x, src_key_padding_mask=~keep)
    assert torch.allclose(output[keep], expected[keep], atol=ATOL)  # outputs at padded positions are not used


def test_block_without_bias_equals_pytorch():
    layer, ours = torch_layer_and_ours(False, bias=False)
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(ours(x)[0], layer(x), atol=ATOL)


def test_block_dropout_is_off_in_eval_and_on_in_training():
    set_seed(0)
    block = TransformerEncoderBlock(16, 4, 32, dropout=0.5)
    x = torch.randn(2, 5, 16)
    block.eval()
    assert torch.equal(block(x)[0], block(x)[0])
    block.train()
    assert not torch.allclose(block(x)[0], block(x)[0])


def test_block_bad_input():
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads, got embed_dim=10 and num_heads=4"):
        TransformerEncoderBlock(10, 4, 32)
    with pytest.raises(ValueError, match="activation must be one of 'relu', 'gelu', got 'tanh'"):
        TransformerEncoderBlock(16, 4, 32, activation="tanh")
    with pytest.raises(ValueError, match=r"query must have embed_dim=16 features \(last axis\), got query of shape \(2, 5, 8\)"):
        TransformerEncoderBlock(16, 4, 32)(torch.randn(2, 5, 8))
    with pytest.raises(TypeError, match="layer must be a torch.nn.TransformerEncoderLayer, got Linear"):
        TransformerEncoderBlock.from_torch(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="layer's activation must be ReLU or GELU"):
        TransformerEncoderBlock.from_torch(nn.TransformerEncoderLayer(16, 4, 32, activation=torch.tanh, batch_first=True))


def test_block_parts_are_built_in_parameter_order():
    torch.manual_seed(0)
    attentions, feed_forward, norms, dropouts = _block_parts(16, 4, 32, 0.25, "gelu", 1e-6, True, num_attentions=2)
    assert len(attentions) == 2 and len(norms) == len(dropouts) == 3
    assert isinstance(feed_forward[1], nn.GELU) and [f.p for f in dropouts] == [0.25] * 3
    assert all(norm.eps == 1e-6 for norm in norms) and attentions[0].dropout == 0.25


@pytest.mark.parametrize("num_attentions, block_class", [(1, TransformerEncoderBlock), (2, TransformerDecoderBlock)])
def test_blocks_take_the_parts_in_the_same_order(num_attentions, block_class):
    # The same random draws in the same order: a seeded block has the parts' weights, parameter by parameter.
    torch.manual_seed(0)
    attentions, feed_forward, norms, _ = _block_parts(16, 4, 32, 0.0, "relu", 1e-5, True, num_attentions=num_attentions)
    built = [p for part in (*attentions, feed_forward, *norms) for p in part.parameters()]
    torch.manual_seed(0)
    block = block_class(16, 4, 32)
    assert all(torch.equal(a, b) for a, b in zip(built, block.parameters(), strict=True))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"ff_dim": 0}, ValueError, r"ff_dim must be an integer in \[1, inf\], got 0"),
        ({"dropout": 1.5}, ValueError, r"dropout must be a probability in \[0, 1\], got 1.5"),
        ({"activation": "tanh"}, ValueError, "activation must be one of 'relu', 'gelu', got 'tanh'"),
        ({"layer_norm_eps": 0.0}, ValueError, r"layer_norm_eps must be a finite number > 0, got 0.0"),
        ({"num_attentions": 0}, ValueError, r"num_attentions must be an integer in \[1, inf\], got 0"),
    ],
)
def test_block_parts_bad_input(kwargs, error, message):
    arguments = {"embed_dim": 16, "num_heads": 4, "ff_dim": 32, "dropout": 0.0, "activation": "relu",
                 "layer_norm_eps": 1e-5, "bias": True, "num_attentions": 1} | kwargs
    with pytest.raises(error, match=message):
        _block_parts(**arguments)


def test_sequence_transformer_shapes_and_attention_maps():
    set_seed(0)
    model = SequenceTransformer(10, 7, embed_dim=16, num_heads=2, ff_dim=32, num_layers=3, max_len=12).eval()
    tokens = torch.randint(10, (4, 9))
    assert model(tokens).shape == (4, 9, 7)
    representations, weights = model.encode(tokens)
    assert representations.shape == (4, 9, 16)
    assert len(weights) == 3 and all(w.shape == (4, 2, 9, 9) for w in weights)
    _, causal_weights = model.encode(tokens, mask=causal_mask(9))
    assert all(torch.equal(w.triu(1), torch.zeros_like(w)) for w in causal_weights)


def test_causal_model_sees_only_the_past():
    set_seed(0)
    tokens = torch.randint(10, (3, 8))
    model = SequenceTransformer(10, 10, embed_dim=16, num_layers=2, max_len=8, causal=True).eval()
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 10
    assert torch.allclose(model(tokens)[:, :5], model(changed)[:, :5], atol=ATOL)
    assert not torch.allclose(model(tokens)[:, 5:], model(changed)[:, 5:], atol=1e-3)
    # the same as passing the causal mask by hand, and combined with a padding mask by &
    by_hand = SequenceTransformer(10, 10, embed_dim=16, num_layers=2, max_len=8).eval()
    by_hand.load_state_dict(model.state_dict())
    assert torch.allclose(model(tokens), by_hand(tokens, mask=causal_mask(8)), atol=ATOL)
    _, weights = model.encode(tokens, mask=padding_mask(torch.tensor([8, 6, 3]))[:, None, :])
    assert all(torch.equal(w.triu(1), torch.zeros_like(w)) and torch.equal(w[2, ..., 3:], torch.zeros(2, 8, 5))
               for w in weights)
    # prefixes give the same predictions as the whole sequence
    assert torch.allclose(model(tokens[:, :4]), model(tokens)[:, :4], atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_without_positions_the_model_is_permutation_equivariant(norm_first):
    set_seed(0)
    tokens = torch.randint(10, (3, 8))
    permutation = torch.randperm(8)
    blind = SequenceTransformer(10, 10, embed_dim=16, max_len=8, positional=False, norm_first=norm_first).eval()
    assert torch.allclose(blind(tokens[:, permutation]), blind(tokens)[:, permutation], atol=ATOL)
    seeing = SequenceTransformer(10, 10, embed_dim=16, max_len=8, positional=True, norm_first=norm_first).eval()
    assert not torch.allclose(seeing(tokens[:, permutation]), seeing(tokens)[:, permutation], atol=1e-2)


def test_sequence_transformer_bad_input():
    model = SequenceTransformer(10, 10, embed_dim=16, max_len=8)
    with pytest.raises(TypeError, match="tokens must hold int64 token ids, got dtype torch.float32"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"tokens must have at most max_len=8 positions, got shape \(2, 9\)"):
        model(torch.zeros(2, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"tokens must be ids in \[0, 9\], got values from 0 to 10"):
        model(torch.tensor([[0, 10]]))
    with pytest.raises(ValueError, match=r"tokens must be 2-dimensional, got shape \(5,\)"):
        model(torch.zeros(5, dtype=torch.long))


class ReverserOnFirstPositions(nn.Module):
    """Reverses the sequence at its first ``right`` positions and predicts class 0 elsewhere."""

    def __init__(self, right: int) -> None:
        super().__init__()
        self.right = right
        self.dummy = nn.Parameter(torch.zeros(1))  # evaluate_tokens finds the device from a parameter

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        predictions = torch.zeros_like(tokens)
        predictions[:, :self.right] = tokens.flip(1)[:, :self.right]
        return nn.functional.one_hot(predictions, 10).float() * 50


def test_evaluate_tokens_counts_tokens_and_whole_sequences():
    data = digit_sequence_task(length=4, num_train=20, num_test=10, seed=2)
    model = ReverserOnFirstPositions(right=3)
    loss, token_acc, sequence_acc = evaluate_tokens(model, data.X_train, data.Y_train, batch_size=7)
    wrong_last = (data.Y_train[:, 3] != 0).float()
    assert token_acc == pytest.approx((3 * 20 + (1 - wrong_last).sum().item()) / 80)
    assert sequence_acc == pytest.approx((1 - wrong_last).mean().item())
    assert loss == pytest.approx(50 * wrong_last.sum().item() / 80, rel=1e-4)  # each wrong token costs 50 nats


def test_training_reverses_short_sequences():
    data = digit_sequence_task("reverse", length=5, num_train=2000, num_test=300, seed=0)
    set_seed(0)
    model = SequenceTransformer(10, 10, embed_dim=32, num_heads=2, ff_dim=64, max_len=5)
    history = train_token_classifier(model, data, epochs=4, lr=3e-3, batch_size=32, device="cpu", progress=False)
    assert history.epochs == 4 and len(history.train_loss) == 4 and len(history.epoch_seconds) == 4
    assert history.test_acc[-1] > 0.95
    assert history.test_loss[-1] < history.test_loss[0]
    assert evaluate_tokens(model, data.X_test, data.Y_test)[1] == pytest.approx(history.test_acc[-1])


def test_training_is_repeatable():
    data = digit_sequence_task(length=4, num_train=256, num_test=32, seed=0)
    runs = []
    for _ in range(2):
        set_seed(1)
        model = SequenceTransformer(10, 10, embed_dim=16, max_len=4)
        runs.append(train_token_classifier(model, data, epochs=1, lr=1e-3, device="cpu", progress=False, seed=5).test_loss)
    assert runs[0] == runs[1]


def test_token_cross_entropy_loss_is_the_mean_over_all_tokens():
    set_seed(2)
    model = SequenceTransformer(10, 7, embed_dim=16, max_len=4).eval()
    X, Y = torch.randint(0, 10, (3, 4)), torch.randint(0, 7, (3, 4))
    logits = model(X)
    per_token = torch.stack([torch.nn.functional.cross_entropy(logits[b, i], Y[b, i]) for b in range(3) for i in range(4)])
    torch.testing.assert_close(token_cross_entropy_loss(model, X, Y), per_token.mean())


def test_train_token_classifier_takes_a_loss_fn_and_defaults_to_token_cross_entropy():
    data = digit_sequence_task(length=4, num_train=100, num_test=20, seed=0)

    def train(**kwargs):
        set_seed(1)
        model = SequenceTransformer(10, 10, embed_dim=16, max_len=4, dropout=0.1)
        return train_token_classifier(model, data, epochs=2, lr=1e-3, batch_size=32, device="cpu", progress=False,
                                      **kwargs)

    def by_hand(model, X, Y):  # the loss the loop computed before it took a loss_fn
        return torch.nn.functional.cross_entropy(model(X).flatten(0, 1), Y.flatten())

    default = train()
    assert default.test_loss == train(loss_fn=by_hand).test_loss == train(loss_fn=token_cross_entropy_loss).test_loss
    calls = []

    def counted(model, X, Y):
        calls.append(tuple(X.shape))
        return token_cross_entropy_loss(model, X, Y)

    once = train(loss_fn=counted, eval_every=2)
    assert calls == [(32, 4), (32, 4), (32, 4), (4, 4)] * 2  # every mini-batch of both epochs, through loss_fn
    assert once.epochs == 2 and len(once.test_loss) == 1  # evaluated once, after the last epoch ...
    assert once.test_loss[-1] == default.test_loss[-1]  # ... which changes no step of the training


def test_train_token_classifier_bad_input():
    model = SequenceTransformer(10, 10, embed_dim=16, max_len=4)
    X = torch.zeros(8, 4, dtype=torch.long)
    mismatched = SequenceSplit(X, X[:, :3], X, X)
    with pytest.raises(ValueError, match=r"data.X_train and data.Y_train must have the same shape .*\(8, 4\).*\(8, 3\)"):
        train_token_classifier(model, mismatched, epochs=1, lr=0.1, progress=False)
    with pytest.raises(TypeError, match="data.Y_test must hold int64 class labels, got dtype torch.float32"):
        train_token_classifier(model, SequenceSplit(X, X, X, X.float()), epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match=r"epochs must be an integer in \[1, inf\], got 0"):
        train_token_classifier(model, SequenceSplit(X, X, X, X), epochs=0, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_token_classifier(model, SequenceSplit(X, X, X, X), epochs=1, lr=0.1, optimizer="lbfgs", progress=False)
    with pytest.raises(TypeError, match=r"loss_fn must be a callable loss_fn\(model, X, Y\), got str"):
        train_token_classifier(model, SequenceSplit(X, X, X, X), epochs=1, lr=0.1, loss_fn="rdrop", progress=False)
    with pytest.raises(ValueError, match=r"eval_every must be an integer in \[1, inf\], got 0"):
        train_token_classifier(model, SequenceSplit(X, X, X, X), epochs=1, lr=0.1, eval_every=0, progress=False)



@pytest.mark.parametrize("module", [nn.ReLU(), nn.GELU()])
def test_from_torch_reads_an_activation_given_as_a_module(module):
    """Both blocks read the activation the same way, whether PyTorch stores a function or a module."""
    torch.manual_seed(0)
    encoder = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=module, batch_first=True)
    decoder = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, activation=module, batch_first=True)
    assert type(TransformerEncoderBlock.from_torch(encoder).feed_forward[1]) is type(module)
    assert type(TransformerDecoderBlock.from_torch(decoder).feed_forward[1]) is type(module)
    with pytest.raises(ValueError, match="layer's activation must be ReLU or GELU"):
        TransformerDecoderBlock.from_torch(nn.TransformerDecoderLayer(16, 4, 32, activation=torch.tanh, batch_first=True))
