import pytest
import torch

from attnreg.attention import AdditiveScore, BilinearScore, DotScore, ScaledDotScore, masked_softmax
from attnreg.data import CharVocab, SequencePairs, load_dates
from attnreg.seq2seq import (SCORES, BahdanauSeq2Seq, Seq2Seq, evaluate_seq2seq, exact_match, greedy_decode, make_score,
                             sequence_loss, train_seq2seq)


@pytest.fixture(scope="module")
def data():
    return load_dates(n_train=256, n_test=64, seed=0)


def small_model(data, score="additive", seed=0, kind=Seq2Seq):
    torch.manual_seed(seed)
    return kind(len(data.source_vocab), len(data.target_vocab), score=score, embed_dim=8, hidden_dim=12)


@pytest.mark.parametrize("score", SCORES)
def test_shapes(data, score):
    model = small_model(data, score)
    batch = data.train[:5]
    keys, mask, state = model.encode(batch.source, batch.source_lengths)
    S = batch.source.shape[1]
    assert keys.shape == (5, S, 24) and mask.shape == (5, 1, S) and state.shape == (1, 5, 24)
    logits, weights = model(batch.source, batch.source_lengths, batch.target[:, :-1])
    T = batch.target.shape[1] - 1
    assert logits.shape == (5, T, len(data.target_vocab)) and weights.shape == (5, T, S)
    assert torch.allclose(weights.sum(-1), torch.ones(5, T), atol=1e-5)
    padding = torch.arange(S)[None, :] >= batch.source_lengths[:, None]  # (5, S)
    assert padding.any() and (weights * padding[:, None, :]).abs().max() == 0  # no weight on padding


def test_make_score_builds_each_module():
    assert isinstance(make_score("additive", 6, 6), AdditiveScore)
    assert make_score("additive", 6, 6, hidden_dim=3).v.weight.shape == (1, 3)
    assert isinstance(make_score("dot", 6, 6), DotScore) and isinstance(make_score("scaled_dot", 6, 6), ScaledDotScore)
    assert isinstance(make_score("bilinear", 6, 4), BilinearScore)


def test_padding_does_not_change_a_sequence(data):
    model = small_model(data).eval()
    source, lengths = data.encode(["5 Mar 2019", "Wednesday, 27 September 2023"])
    target = data.train.target[:2, :-1]
    alone_source, alone_lengths = data.encode(["5 Mar 2019"])
    assert source.shape[1] > alone_source.shape[1]  # the first sequence is padded in the batch
    keys, _, state = model.encode(source, lengths)
    alone_keys, _, alone_state = model.encode(alone_source, alone_lengths)
    assert torch.allclose(keys[0, :10], alone_keys[0], atol=1e-6) and torch.allclose(state[:, 0], alone_state[:, 0], atol=1e-6)
    assert keys[0, 10:].abs().max() == 0
    logits, weights = model(source, lengths, target)
    alone_logits, alone_weights = model(alone_source, alone_lengths, target[:1])
    assert torch.allclose(logits[0], alone_logits[0], atol=1e-5)
    assert torch.allclose(weights[0, :, :10], alone_weights[0], atol=1e-6) and weights[0, :, 10:].abs().max() == 0
    # extra padding columns on the same batch change nothing either
    wider = torch.nn.functional.pad(source, (0, 4), value=CharVocab.PAD)
    assert torch.allclose(model(wider, lengths, target)[0], logits, atol=1e-5)


def test_greedy_decode_stops_at_end_token(data):
    model = small_model(data)
    with torch.no_grad():  # make </s> the most likely token at every step
        model.output.weight.zero_()
        model.output.bias.zero_()
        model.output.bias[CharVocab.EOS] = 10.0
    batch = data.test[:4]
    tokens, weights = greedy_decode(model, batch.source, batch.source_lengths, max_len=7)
    assert tokens.shape == (4, 7) and weights.shape == (4, 7, batch.source.shape[1])
    assert (tokens[:, 0] == CharVocab.EOS).all() and (tokens[:, 1:] == CharVocab.PAD).all()
    assert torch.allclose(weights[:, 0].sum(-1), torch.ones(4)) and (weights[:, 1:] == 0).all()
    assert model.training  # the mode is restored
    with torch.no_grad():  # </s> only from step 3 on: earlier tokens are kept, later ones are padding
        model.output.bias[CharVocab.EOS] = -10.0
        model.output.bias[5] = 10.0
    tokens, _ = greedy_decode(model, batch.source, batch.source_lengths, max_len=3)
    assert (tokens == 5).all()


def test_tiny_training_run_lowers_the_loss_and_exact_match_is_consistent(data):
    model = small_model(data)
    before, _ = evaluate_seq2seq(model, data.test)
    history = train_seq2seq(model, data.train, data.test, epochs=2, lr=1e-2, batch_size=32, monitor_size=16, seed=0, device="cpu",
                            progress=False)
    assert history.epochs == 2 and len(history.epoch_seconds) == 2 and len(history.train_loss) == 2
    assert history.test_loss[-1] < 0.8 * before, (history.test_loss, before)
    loss, match = evaluate_seq2seq(model, data.test)
    assert loss == pytest.approx(history.test_loss[-1]) and match == exact_match(model, data.test, batch_size=7)
    tokens, _ = greedy_decode(model, data.test.source, data.test.source_lengths, max_len=data.test.target.shape[1] - 1)
    manual = sum(data.target_vocab.decode(row) == iso for row, (_, iso) in zip(tokens, data.test_text)) / len(data.test)
    assert match == pytest.approx(manual)


def test_sequence_loss_ignores_padding(data):
    model = small_model(data)
    batch = data.train[:3]
    loss, logits = sequence_loss(model, batch)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.target[:, 1:].reshape(-1))
    assert torch.allclose(loss, expected)  # date targets have no padding: every token counts
    assert logits.shape[:2] == batch.target[:, 1:].shape


@pytest.mark.parametrize("call, error, message", [
    (lambda d: Seq2Seq(len(d.source_vocab), len(d.target_vocab), score="cosine"), ValueError, r"score must be one of 'additive', 'dot', 'scaled_dot', 'bilinear', got 'cosine'"),
    (lambda d: Seq2Seq(3, 10), ValueError, r"source_vocab_size must be an integer in \[4, inf\], got 3"),
    (lambda d: Seq2Seq(40, 10, hidden_dim=0), ValueError, r"hidden_dim must be an integer in \[1, inf\], got 0"),
    (lambda d: make_score("dot", 6, 4), ValueError, r"score='dot' needs query_dim == key_dim, got query_dim=6 and key_dim=4"),
    (lambda d: small_model(d).encode(d.train.source[:2], torch.tensor([5, 40])), ValueError, r"lengths must hold one length in \[1, \d+\] per row of source of shape \(2, \d+\)"),
    (lambda d: small_model(d).encode(d.train.source[:2], torch.tensor([5])), ValueError, r"lengths must hold one length .* got lengths of shape \(1,\)"),
    (lambda d: small_model(d).encode(d.train.source[0], torch.tensor([5])), ValueError, r"source must be 2-dimensional, got shape \(\d+,\)"),
    (lambda d: greedy_decode(small_model(d), d.test.source[:2], d.test.source_lengths[:2], max_len=0), ValueError, r"max_len must be an integer in \[1, inf\], got 0"),
    (lambda d: greedy_decode(torch.nn.Linear(2, 2), d.test.source[:2], d.test.source_lengths[:2], max_len=3), TypeError, "model must be a Seq2Seq, got Linear"),
    (lambda d: exact_match(small_model(d), d.test.source), TypeError, "pairs must be a SequencePairs, got Tensor"),
    (lambda d: exact_match(small_model(d), d.test, batch_size=0), ValueError, r"batch_size must be an integer in \[1, inf\], got 0"),
    (lambda d: train_seq2seq(small_model(d), d.train, d.test, epochs=0), ValueError, r"epochs must be an integer in \[1, inf\], got 0"),
    (lambda d: train_seq2seq(small_model(d), d.train, d.test, epochs=1, lr=-1.0), ValueError, r"lr must be a finite number > 0, got -1.0"),
    (lambda d: train_seq2seq(small_model(d), d.train.source, d.test, epochs=1), TypeError, "train must be a SequencePairs, got Tensor"),
    (lambda d: train_seq2seq(small_model(d), d.train, SequencePairs(d.test.source, d.test.source_lengths, d.test.target[:, :1]), epochs=1), ValueError, r"test.target must hold at least <s> and </s> per row, got shape \(64, 1\)"),
])
def test_errors(data, call, error, message):
    with pytest.raises(error, match=message):
        call(data)


def test_decode_step_is_one_step_of_teacher_forcing(data):
    model = small_model(data, "bilinear")
    batch = data.train[:4]
    with torch.no_grad():
        logits, weights = model(batch.source, batch.source_lengths, batch.target[:, :-1])
        keys, mask, state = model.encode(batch.source, batch.source_lengths)
        for t in range(batch.target.shape[1] - 1):
            step_logits, state, step_weights = model.decode_step(batch.target[:, t], state, keys, mask)
            assert step_logits.shape == (4, len(data.target_vocab)) and state.shape == (1, 4, 24)
            assert torch.allclose(step_logits, logits[:, t], atol=1e-5)
            assert torch.allclose(step_weights, weights[:, t], atol=1e-6)
    with pytest.raises(ValueError, match="previous"):
        model.decode_step(batch.target[:, :1], state, keys, mask)


def test_score_hidden_dim_sets_the_additive_width(data):
    model = Seq2Seq(len(data.source_vocab), len(data.target_vocab), embed_dim=4, hidden_dim=6, score_hidden_dim=5)
    assert model.score.v.weight.shape == (1, 5) and model.score.W.weight.shape == (5, 12)
    assert Seq2Seq(len(data.source_vocab), len(data.target_vocab), embed_dim=4, hidden_dim=6).score.v.weight.shape == (1, 12)
    with pytest.raises(ValueError, match="score_hidden_dim"):
        Seq2Seq(len(data.source_vocab), len(data.target_vocab), score_hidden_dim=0)


def bahdanau_step_by_hand(model, previous, state, keys, mask):
    """Bahdanau's step from the model's parts: the query is z_{t-1}, the context joins the GRU's input."""
    weights = masked_softmax(model.score(state.transpose(0, 1), keys), mask)  # (B, 1, n_src)
    context = weights @ keys
    z, new_state = model.decoder(torch.cat([model.target_embedding(previous[:, None]), context], dim=-1), state)
    logits = model.output(torch.tanh(model.combine(torch.cat([context, z], dim=-1))))
    return logits[:, 0], new_state, weights[:, 0]


@pytest.mark.parametrize("score", SCORES)
def test_bahdanau_shapes_padding_and_steps(data, score):
    model = small_model(data, score, kind=BahdanauSeq2Seq)
    assert model.decoder.input_size == 8 + 24 and model.decoder.hidden_size == 24  # [embed(y_{t-1}) ; c_t]
    assert small_model(data, score).decoder.input_size == 8  # Luong's GRU reads the embedding alone
    batch = data.train[:5]
    n_src, n_tgt = batch.source.shape[1], batch.target.shape[1] - 1
    with torch.no_grad():
        logits, weights = model(batch.source, batch.source_lengths, batch.target[:, :-1])
        keys, mask, state = model.encode(batch.source, batch.source_lengths)
        for t in range(n_tgt):  # forward runs decode_step; both equal the step written out from the parts
            by_hand = bahdanau_step_by_hand(model, batch.target[:, t], state, keys, mask)
            step_logits, state, step_weights = model.decode_step(batch.target[:, t], state, keys, mask)
            torch.testing.assert_close(step_logits, by_hand[0])
            torch.testing.assert_close(state, by_hand[1])
            torch.testing.assert_close(step_weights, by_hand[2])
            torch.testing.assert_close(step_logits, logits[:, t])
    assert logits.shape == (5, n_tgt, len(data.target_vocab)) and weights.shape == (5, n_tgt, n_src)
    assert torch.allclose(weights.sum(-1), torch.ones(5, n_tgt), atol=1e-5)
    padding = torch.arange(n_src)[None, :] >= batch.source_lengths[:, None]
    assert padding.any() and (weights * padding[:, None, :]).abs().max() == 0


def test_bahdanau_attends_with_the_previous_state_and_feeds_the_context_to_the_gru(data):
    batch = data.train[:4]
    other_keys = None
    for kind in (Seq2Seq, BahdanauSeq2Seq):
        model = small_model(data, kind=kind)
        with torch.no_grad():
            keys, mask, state = model.encode(batch.source, batch.source_lengths)
            other_keys = torch.randn_like(keys) if other_keys is None else other_keys
            previous = batch.target[:, 1]
            first = model.decode_step(previous, state, keys, mask)
            other_token = model.decode_step(torch.where(previous == 5, 6, 5), state, keys, mask)
            other_source = model.decode_step(previous, state, other_keys, mask)
        same_weights = torch.equal(first[2], other_token[2])  # the query does not depend on y_{t-1}
        same_state = torch.equal(first[1], other_source[1])   # the new state does not depend on the keys
        assert (same_weights, same_state) == ((True, False) if kind is BahdanauSeq2Seq else (False, True))


def test_bahdanau_trains_and_decodes_with_the_seq2seq_helpers(data):
    model = small_model(data, kind=BahdanauSeq2Seq)
    before, _ = evaluate_seq2seq(model, data.test)
    history = train_seq2seq(model, data.train, data.test, epochs=2, lr=1e-2, batch_size=32, monitor_size=16, seed=0,
                            device="cpu", progress=False)
    assert history.test_loss[-1] < 0.8 * before, (history.test_loss, before)
    tokens, weights = greedy_decode(model, data.test.source[:3], data.test.source_lengths[:3], max_len=11)
    with torch.no_grad():
        keys, mask, state = model.encode(data.test.source[:3], data.test.source_lengths[:3])
        logits, _, first_weights = bahdanau_step_by_hand(model, torch.full((3,), CharVocab.BOS), state, keys, mask)
    assert torch.equal(tokens[:, 0], logits.argmax(-1)) and torch.allclose(weights[:, 0], first_weights)
    with pytest.raises(ValueError, match=r"target_input must be 2-dimensional, got shape \(3,\)"):
        model(data.test.source[:3], data.test.source_lengths[:3], data.test.target[:3, 0])
