import pytest
import torch
from torch import nn

from attnreg import set_seed
from attnreg.attention import causal_mask, padding_mask
from attnreg.data import load_dates
from attnreg.decoder import (KVCache, TransformerDecoderBlock, TransformerTranslator, evaluate_translator, graph_depth,
                             greedy_translate, input_dependence, path_length, train_translator,
                             translator_exact_match)

ATOL = 1e-5


def torch_layer_and_ours(norm_first: bool, activation: str = "relu", dropout: float = 0.0, bias: bool = True):
    torch.manual_seed(0)
    layer = nn.TransformerDecoderLayer(16, 4, 32, dropout=dropout, activation=activation, batch_first=True,
                                       norm_first=norm_first, bias=bias)
    with torch.no_grad():  # non-default LayerNorm and bias values, so that copying them is tested
        for param in layer.parameters():
            if param.ndim == 1:
                param.normal_()
    return layer, TransformerDecoderBlock.from_torch(layer)


def inputs(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(3, 5, 16, generator=gen), torch.randn(3, 7, 16, generator=gen)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_equals_pytorch_decoder_layer_in_train_and_eval(norm_first, activation):
    layer, ours = torch_layer_and_ours(norm_first, activation)
    y, memory = inputs()
    output, self_weights, cross_weights = ours(y, memory)
    assert self_weights.shape == (3, 4, 5, 5) and cross_weights.shape == (3, 4, 5, 7)
    assert torch.allclose(output, layer(y, memory), atol=ATOL)  # training mode, dropout 0
    layer.eval(), ours.eval()
    with torch.no_grad():
        assert torch.allclose(ours(y, memory)[0], layer(y, memory), atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_block_equals_pytorch_with_causal_and_padding_masks(norm_first, train):
    layer, ours = torch_layer_and_ours(norm_first)
    layer.train(train), ours.train(train)
    y, memory = inputs(2)
    causal, keep = causal_mask(5), padding_mask(torch.tensor([7, 4, 2]))
    output, self_weights, cross_weights = ours(y, memory, self_mask=causal, cross_mask=keep[:, None, :])
    expected = layer(y, memory, tgt_mask=~causal, memory_key_padding_mask=~keep)
    assert torch.allclose(output, expected, atol=ATOL)
    assert torch.equal(self_weights.triu(1), torch.zeros_like(self_weights))
    assert (cross_weights[1, :, :, 4:] == 0).all() and (cross_weights[2, :, :, 2:] == 0).all()
    # the same masks in PyTorch's other form: a (T, S) memory mask
    cross = torch.rand(5, 7, generator=torch.Generator().manual_seed(0)) > 0.3
    cross[:, 0] = True
    output, _, _ = ours(y, memory, self_mask=causal, cross_mask=cross)
    assert torch.allclose(output, layer(y, memory, tgt_mask=~causal, memory_mask=~cross), atol=ATOL)


def test_masks_are_keyword_only():
    _, ours = torch_layer_and_ours(False)
    y, memory = inputs()
    with pytest.raises(TypeError):
        ours(y, memory, causal_mask(5))


def test_block_without_bias_equals_pytorch():
    layer, ours = torch_layer_and_ours(True, bias=False)
    y, memory = inputs(3)
    assert torch.allclose(ours(y, memory)[0], layer(y, memory), atol=ATOL)


def test_dropout_rate_is_copied_and_off_in_eval():
    layer, ours = torch_layer_and_ours(False, dropout=0.3)
    assert ours.self_attn.dropout == 0.3 and ours.dropout3.p == 0.3 and ours.feed_forward[2].p == 0.3
    y, memory = inputs()
    ours.eval()
    assert torch.equal(ours(y, memory)[0], ours(y, memory)[0])
    ours.train()
    assert not torch.equal(ours(y, memory)[0], ours(y, memory)[0])


def test_from_torch_rejects_other_layers():
    with pytest.raises(TypeError, match="layer must be a torch.nn.TransformerDecoderLayer, got Linear"):
        TransformerDecoderBlock.from_torch(nn.Linear(2, 2))


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_steps_equal_the_causal_forward(norm_first):
    _, ours = torch_layer_and_ours(norm_first)
    ours.eval()
    y, memory = inputs(4)
    keep = padding_mask(torch.tensor([7, 3, 5]))[:, None, :]
    full, _, full_cross = ours(y, memory, self_mask=causal_mask(5), cross_mask=keep)
    cache = ours.start_cache(memory)
    steps = []
    for t in range(5):
        out, cross = ours.step(y[:, t:t + 1], cache, cross_mask=keep)
        steps.append(out)
        assert torch.allclose(cross[:, :, 0], full_cross[:, :, t], atol=ATOL)
    assert cache.length == 5 and cache.keys.shape == (3, 4, 5, 4)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=ATOL)
    with pytest.raises(ValueError, match="y must hold one position"):
        ours.step(y, cache)


def small_translator(norm_first: bool = False, layers: int = 1) -> TransformerTranslator:
    set_seed(0)
    return TransformerTranslator(20, 14, embed_dim=16, num_heads=2, ff_dim=32, num_encoder_layers=layers,
                                 num_decoder_layers=layers, max_len=16, norm_first=norm_first)


@pytest.mark.parametrize("norm_first", [False, True])
def test_translator_step_equals_decode(norm_first):
    model = small_translator(norm_first, layers=2).eval()
    gen = torch.Generator().manual_seed(0)
    source, lengths = torch.randint(3, 20, (4, 9), generator=gen), torch.tensor([9, 5, 7, 2])
    target = torch.randint(3, 14, (4, 6), generator=gen)
    logits, cross = model(source, lengths, target)
    assert logits.shape == (4, 6, 14) and cross.shape == (4, 2, 6, 9)
    cache = model.start(source, lengths)
    assert isinstance(cache, KVCache)
    for t in range(6):
        step_logits, step_cross = model.step(target[:, t], cache)
        assert torch.allclose(step_logits, logits[:, t], atol=ATOL)
        assert torch.allclose(step_cross, cross[:, :, t], atol=ATOL)
    assert cache.length == 6


def test_padding_does_not_change_the_translation():
    model = small_translator().eval()
    source = torch.randint(3, 20, (1, 5), generator=torch.Generator().manual_seed(1))
    padded = torch.cat([source, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    a, _ = model(source, torch.tensor([5]), torch.tensor([[1, 4, 5]]))
    b, _ = model(padded, torch.tensor([5]), torch.tensor([[1, 4, 5]]))
    assert torch.allclose(a, b, atol=ATOL)


def test_embedding_scale_and_initialisation():
    model = small_translator()
    assert model.scale == 4.0
    weight = model.source_embedding.weight[3:]
    assert abs(weight.std().item() - 0.25) < 0.05 and (model.source_embedding.weight[0] == 0).all()
    assert TransformerTranslator(20, 14, embed_dim=16, scale_embedding=False).scale == 1.0


def test_translator_validates_inputs():
    model = small_translator()
    with pytest.raises(ValueError, match="lengths must hold one length"):
        model.encode(torch.ones(2, 4, dtype=torch.long), torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="at most max_len=16"):
        model.encode(torch.ones(1, 17, dtype=torch.long), torch.tensor([17]))
    with pytest.raises(ValueError, match="source_vocab_size must be"):
        TransformerTranslator(3, 14)
    with pytest.raises(TypeError, match="model must be a TransformerTranslator"):
        greedy_translate(nn.Linear(2, 2), torch.ones(1, 2, dtype=torch.long), torch.tensor([2]), 3)


def test_training_learns_dates_and_cache_equals_recomputation():
    data = load_dates(n_train=600, n_test=100, seed=0)
    set_seed(0)
    model = TransformerTranslator(len(data.source_vocab), len(data.target_vocab), embed_dim=16, num_heads=2, ff_dim=32)
    history = train_translator(model, data.train, data.test, epochs=2, lr=1e-2, batch_size=64, monitor_size=50,
                               device="cpu", progress=False)
    assert history.epochs == 2 and history.test_loss[-1] < history.test_loss[0] < 2.5
    cached, weights = greedy_translate(model, data.test.source, data.test.source_lengths, 11)
    recomputed, weights2 = greedy_translate(model, data.test.source, data.test.source_lengths, 11, use_cache=False)
    assert torch.equal(cached, recomputed) and torch.allclose(weights, weights2, atol=ATOL)
    assert weights.shape == (100, 11, data.test.source.shape[1])
    assert translator_exact_match(model, data.test) == translator_exact_match(model, data.test, use_cache=False)
    loss, exact = evaluate_translator(model, data.test)
    assert loss == pytest.approx(history.test_loss[-1]) and exact == history.test_acc[-1]


def test_dependence_and_path_length():
    attention = input_dependence(lambda x: torch.softmax(x @ x.transpose(1, 2), -1) @ x, 6)
    assert attention.all() and path_length(attention) == 1
    causal = input_dependence(lambda x: x.cumsum(dim=1), 6)
    assert torch.equal(causal, torch.ones(6, 6, dtype=torch.bool).tril()) and path_length(causal) == 1
    conv = nn.Conv1d(8, 8, 3, padding=1)
    local = input_dependence(lambda x: conv(x.transpose(1, 2)).transpose(1, 2), 9)
    assert local.sum(dim=1).tolist() == [2] + [3] * 7 + [2] and path_length(local) == 8  # one position per layer
    assert path_length(causal.T) == -1


def test_graph_depth_counts_sequential_operations():
    x = torch.randn(3, requires_grad=True)
    assert graph_depth(x) == 0
    chain = x
    for _ in range(50):
        chain = chain * 2
    assert graph_depth(chain) == 51  # 50 products and the leaf's accumulator
    assert graph_depth((x * 2) + (x * 3)) == 3
    with pytest.raises(TypeError):
        graph_depth([1.0])


def test_a_model_without_the_causal_mask_sees_the_future_and_cannot_use_the_cache():
    set_seed(0)
    model = TransformerTranslator(20, 14, embed_dim=16, num_heads=2, ff_dim=32, max_len=16, causal=False).eval()
    source, lengths = torch.randint(3, 20, (2, 6), generator=torch.Generator().manual_seed(0)), torch.tensor([6, 4])
    target = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 10]])
    changed = target.clone()
    changed[:, 3] = 11
    first, _ = model(source, lengths, target)
    second, _ = model(source, lengths, changed)
    assert not torch.allclose(first[:, 0], second[:, 0])  # position 0 reads the last token
    with pytest.raises(ValueError, match="cannot use the cache"):
        greedy_translate(model, source, lengths, 3)
    tokens, _ = greedy_translate(model, source, lengths, 3, use_cache=False)
    assert tokens.shape == (2, 3)


def test_teacher_forced_accuracy_counts_real_tokens():
    from attnreg.data.dates import SequencePairs
    from attnreg.decoder import teacher_forced_accuracy
    model = small_translator().eval()
    pairs = SequencePairs(torch.randint(3, 20, (3, 5)), torch.tensor([5, 5, 3]), torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0], [1, 7, 8, 2]]))
    logits, _ = model(pairs.source, pairs.source_lengths, pairs.target[:, :-1])
    expected = pairs.target[:, 1:]
    real = expected != 0
    manual = ((logits.argmax(-1) == expected) & real).sum().item() / real.sum().item()
    assert teacher_forced_accuracy(model, pairs) == pytest.approx(manual)
