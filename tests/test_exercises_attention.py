import pytest
import torch

from attnreg.attention import masked_softmax
from attnreg.exercises import check_masked_softmax


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(scores, mask):
    raise NotImplementedError


def test_stub_is_not_implemented(capsys):
    result = check_masked_softmax(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


def lowest_fill(scores, mask):
    weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
    return weights.masked_fill(~mask, 0.0)


def exp_with_max(scores, mask):
    """A correct version by hand: subtract the row maximum over the kept entries, exponentiate, normalise."""
    kept = scores.masked_fill(~mask, float("-inf"))
    row_max = kept.amax(-1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))  # a row with no key
    e = torch.exp(kept - row_max)
    return e / e.sum(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)


@pytest.mark.parametrize("correct", [lambda s, m: masked_softmax(s, m), lowest_fill, exp_with_max])
def test_accepts_correct_versions(correct, capsys):
    result = check_masked_softmax(correct)
    assert result.passed, feedback_of(result)
    assert "9 of 9 checks passed. Well done!" in capsys.readouterr().out


def no_max_subtraction(scores, mask):
    e = torch.exp(scores) * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


def boolean_indexing(scores, mask):
    scores = scores.clone()
    scores[~mask] = torch.finfo(scores.dtype).min  # needs a mask of the scores' exact shape
    return torch.softmax(scores, dim=-1) * mask


def in_place(scores, mask):
    scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


def additive_minus_inf(scores, mask):
    """Zeros in the forward pass, but adding -inf makes the backward pass of a fully masked row NaN."""
    blocked = torch.zeros_like(scores).masked_fill(~mask, float("-inf"))
    return torch.softmax(scores + blocked, dim=-1).masked_fill(~mask, 0.0)


@pytest.mark.parametrize("buggy, hint", [
    (lambda s, m: lowest_fill(s.transpose(-2, -1), m.expand_as(s).transpose(-2, -1)).transpose(-2, -1) if s.ndim == 3
     else lowest_fill(s, m), "softmax over the wrong axis"),
    (lambda s, m: lowest_fill(s, ~m), "the mask is inverted"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, 0.0), dim=-1), "masked scores were set to 0"),
    (lambda s, m: torch.softmax(s, dim=-1).masked_fill(~m, 0.0), "you zeroed the weights after the softmax"),
    (lambda s, m: torch.softmax(s, dim=-1), "the mask is ignored"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, float("-inf")), dim=-1), "a query whose keys are all masked gives NaN"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, torch.finfo(s.dtype).min), dim=-1), "a fully masked row got uniform weights"),
    (no_max_subtraction, "scores of size 1000 give NaN or inf"),
    (boolean_indexing, "a mask of shape (2, 1, 5), one row of keys for every query, raised IndexError"),
    (lambda s, m: lowest_fill(s, m)[..., :1, :] * m, "the weights have shape (2, 1, 5) (the shape of the mask), expected"),
    (in_place, "your function changed the scores it was given"),
    (additive_minus_inf, "the gradient contains NaN with a fully masked row"),
    (lambda s, m: lowest_fill(s, m).detach(), "no gradient reaches the scores"),
    (lambda s, m: None, "did you forget a `return`?"),
])
def test_catches_classic_bugs(buggy, hint):
    result = check_masked_softmax(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_wrong_axis_is_named_even_without_mask():
    result = check_masked_softmax(lambda s, m: torch.softmax(s.masked_fill(~m, -1e9), dim=-2) * m, verbose=False)
    assert "softmax over the wrong axis" in result.cases[0].feedback


def test_not_a_function():
    result = check_masked_softmax("masked_softmax", verbose=False)
    assert not result.passed and not result.implemented


# --- masked softmax: the cases added for the masked row maximum, 2-D and 4-D input -----------

def max_over_all_keys(scores, mask):
    """Subtracts the maximum over every key, masked ones included: the kept keys underflow to 0."""
    e = torch.exp(scores - scores.amax(-1, keepdim=True)) * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


def three_d_only(scores, mask):
    return lowest_fill(scores.view(scores.shape[0], scores.shape[1], scores.shape[2]), mask)


def clamped_exp(scores, mask):
    """No max subtraction, scores of size 1000 clamped to +-80 (exp stays finite there), but a row near 90 overflows."""
    big = scores.abs() > 500
    e = torch.exp(torch.where(big, scores.clamp(-80, 80) - scores.clamp(-80, 80).amax(-1, keepdim=True), scores)) * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


@pytest.mark.parametrize("buggy, hint", [
    (max_over_all_keys, "a masked key holds the row's largest score"),
    (three_d_only, "scores of shape (3, 5) with a mask of shape (5,) raised IndexError"),
    (clamped_exp, "scores around 90 give NaN or inf"),
    (lambda s, m: lowest_fill(s, ~m.logical_not_()), "your function changed the mask it was given"),
    (lambda s, m: lowest_fill(s, m).float(), "the weights are torch.float32 for scores of torch.float64"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, -1e30), dim=-1).masked_fill(~m, 0.0).to(torch.float32), "keep the scores' dtype"),
])
def test_catches_the_bugs_of_other_ranks_and_the_masked_maximum(buggy, hint):
    result = check_masked_softmax(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


# --- exercise 1: Var(q . k) -------------------------------------------------------------------

from attnreg.exercises import check_additive_score, check_bahdanau_step, check_temperature_gradient, check_var_qk  # noqa: E402


def test_var_qk_accepts_the_right_formula_and_never_prints_it(capsys):
    assert check_var_qk(lambda d, sq, sk: d * sq ** 2 * sk ** 2).passed
    assert check_var_qk(lambda d, sq, sk: torch.tensor(d * (sq * sk) ** 2)).passed
    assert "4 of 4 checks passed. Well done!" in capsys.readouterr().out
    result = check_var_qk(lambda d, sq, sk: 3.0 * d * sq ** 2 * sk ** 2, verbose=False)
    assert not result.passed and "too large" in feedback_of(result)
    for d, sq, sk in [(64, 2.0, 1.0), (10, 0.5, 3.0), (1, 1.5, 0.4)]:
        assert f"{d * sq ** 2 * sk ** 2:.6g}" not in feedback_of(result)


@pytest.mark.parametrize("buggy, hint", [
    (lambda d, sq, sk: d * sq * sk, "you multiplied the standard deviations"),
    (lambda d, sq, sk: sq ** 2 * sk ** 2, "you found the variance of one product"),
    (lambda d, sq, sk: d ** 0.5 * sq ** 2 * sk ** 2, "that grows like sqrt(d)"),
    (lambda d, sq, sk: d ** 2 * sq ** 2 * sk ** 2, "d^2 would need the d products to be perfectly correlated"),
    (lambda d, sq, sk: d * (sq ** 2 + sk ** 2), "not the sum"),
    (lambda d, sq, sk: d, "the answer depends on sigma_q and sigma_k"),
    (lambda d, sq, sk: 0.5 * d * sq ** 2 * sk ** 2, "it is too small"),
    (lambda d, sq, sk: float("nan"), "expected a finite number"),
    (lambda d, sq, sk: [d], "must be a number, got list"),
    (lambda d, sq, sk: None, "did you forget a `return`?"),
])
def test_var_qk_names_each_misconception(buggy, hint):
    result = check_var_qk(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_var_qk_stub_and_not_attempted(capsys):
    def var_qk(d, sigma_q, sigma_k):
        raise NotImplementedError
    assert not check_var_qk(var_qk).implemented
    assert not check_var_qk(None).implemented
    assert "not implemented yet" in capsys.readouterr().out


# --- exercise 2: the additive score -----------------------------------------------------------

def additive(q, k, W, U, v):
    return torch.tanh((q @ U.T).unsqueeze(-2) + (k @ W.T).unsqueeze(-3)) @ v


def additive_by_loop(q, k, W, U, v):
    """A correct version written pair by pair for 2-D input, and by recursion over leading dimensions."""
    if q.ndim > 2 or k.ndim > 2:
        shape = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
        q, k = q.expand(*shape, *q.shape[-2:]), k.expand(*shape, *k.shape[-2:])
        return torch.stack([additive_by_loop(qi, ki, W, U, v) for qi, ki in zip(q, k)])
    return torch.stack([torch.stack([v @ torch.tanh(W @ kj + U @ qi) for kj in k]) for qi in q])


@pytest.mark.parametrize("correct", [additive, additive_by_loop])
def test_additive_accepts_correct_versions(correct, capsys):
    result = check_additive_score(correct)
    assert result.passed, feedback_of(result)
    assert "7 of 7 checks passed. Well done!" in capsys.readouterr().out


def bmm_only(q, k, W, U, v):
    hidden = torch.tanh((q @ U.T)[:, :, None, :] + (k @ W.T)[:, None, :, :])
    return hidden @ v


def detached(q, k, W, U, v):
    return additive(q.detach(), k.detach(), W.detach(), U.detach(), v.detach())


def in_place(q, k, W, U, v):
    q.mul_(1.0).add_(0.0)
    k.add_(1.0)
    return additive(q, k - 1.0, W, U, v)


@pytest.mark.parametrize("buggy, hint", [
    (lambda q, k, W, U, v: additive(q, k, U, W, v), "W and U are swapped"),
    (lambda q, k, W, U, v: ((q @ U.T).unsqueeze(-2) + (k @ W.T).unsqueeze(-3)) @ v, "the tanh is missing"),
    (lambda q, k, W, U, v: torch.tanh(((q @ U.T).unsqueeze(-2) + (k @ W.T).unsqueeze(-3)) @ v), "the tanh is applied after v"),
    (lambda q, k, W, U, v: torch.tanh((q @ U.T).unsqueeze(-2) + (k @ W.T).unsqueeze(-3)).sum(-1), "you summed the hidden units"),
    (lambda q, k, W, U, v: torch.tanh((q @ U.T).unsqueeze(-3) + (k @ W.T).unsqueeze(-2)) @ v, "so the queries index the rows"),
    (lambda q, k, W, U, v: additive(q, k, W, U, v[:, None]), "with a trailing axis of size 1"),
    (bmm_only, "although the same numbers as a 3-D batch work: index the axes from the end"),
    (lambda q, k, W, U, v: additive(q, k, W, U, v).float(), "keep the inputs' dtype"),
    (detached, "no gradient reaches the inputs"),
    (lambda q, k, W, U, v: additive(q, k, W.detach(), U, v), "no gradient reaches W"),
    (in_place, "your function changed one of its inputs in place"),
    (lambda q, k, W, U, v: additive(q, k, W, U, v).squeeze(), "the scores have shape (2, 5), expected (..., n_q, n_k) = (2, 1, 5)"),
    (lambda q, k, W, U, v: additive(q, k, W, U, v) if q.shape[-1] == k.shape[-1] else q @ k, "raised RuntimeError: "),
    (lambda q, k, W, U, v: torch.tanh(q @ U.T + k[..., :q.shape[-2], :] @ W.T) @ v, "expected (..., n_q, n_k)"),
])
def test_additive_catches_classic_bugs(buggy, hint):
    result = check_additive_score(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_additive_stub_and_not_attempted(capsys):
    def my_additive_score(q, k, W, U, v):
        raise NotImplementedError
    assert not check_additive_score(my_additive_score).implemented
    assert not check_additive_score(...).implemented
    assert "not implemented yet" in capsys.readouterr().out


# --- exercise 3: the gradient through the softmax against the temperature ---------------------

TEMPERATURES = [0.05, 0.2, 1.0, 5.0, 20.0, 100.0]


def measured_sizes(temperatures):
    e = torch.randn(16, generator=torch.Generator().manual_seed(0)) * 2
    sizes = []
    for t in temperatures:
        a = torch.softmax(e / t, 0)
        sizes.append(((torch.diag(a) - a[:, None] * a[None]) / t).norm().item())
    return sizes


def test_temperature_prediction_verdict_comes_from_the_measurement(capsys):
    sizes = measured_sizes(TEMPERATURES)
    assert check_temperature_gradient("rises then falls", TEMPERATURES, sizes).passed
    assert "Dividing by sqrt(d) is T = sqrt(d)" in capsys.readouterr().out
    assert check_temperature_gradient(" Rises then falls ", TEMPERATURES, sizes, verbose=False).passed
    # a measurement that only covers high temperatures shrinks: the same prediction is then wrong
    high = [5.0, 20.0, 100.0]
    result = check_temperature_gradient("rises then falls", high, measured_sizes(high), verbose=False)
    assert not result.passed and "the experiment says 'shrinks'" in feedback_of(result)
    assert check_temperature_gradient("shrinks", high, measured_sizes(high), verbose=False).passed


@pytest.mark.parametrize("wrong, hint", [
    ("grows", "carries a factor 1/T"),
    ("shrinks", "nearly one-hot and saturated"),
    ("falls then rises", "at both ends the gradient is small"),
    ("up", "prediction must be one of"),
    ("rises", "prediction must be one of"),
    ("", "prediction must be one of"),
    (["rises then falls"], "prediction must be one of"),
    (0.5, "prediction must be one of"),
    (3, "prediction must be one of"),
    (True, "prediction must be one of"),
])
def test_temperature_prediction_explains_each_wrong_choice(wrong, hint):
    result = check_temperature_gradient(wrong, TEMPERATURES, measured_sizes(TEMPERATURES), verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_temperature_prediction_not_attempted_and_flat_measurement(capsys):
    assert not check_temperature_gradient(None, TEMPERATURES, measured_sizes(TEMPERATURES)).implemented
    assert "not attempted yet" in capsys.readouterr().out
    result = check_temperature_gradient("grows", [1.0, 2.0, 3.0], [1.0, 1.0, 1.0], verbose=False)
    assert not result.passed and "follow none of the four shapes" in feedback_of(result)
    with pytest.raises(ValueError, match="temperatures must be increasing"):
        check_temperature_gradient("grows", [3.0, 2.0, 1.0], [1.0, 2.0, 3.0])


# --- exercise 5: one step of Bahdanau's attention decoder -------------------------------------

from attnreg.attention import ScaledDotScore, attend  # noqa: E402


def step(model, previous, state, keys, mask):
    weights = masked_softmax(model.score(state.transpose(0, 1), keys), mask)
    context = weights @ keys
    z, new_state = model.decoder(torch.cat([model.target_embedding(previous[:, None]), context], dim=-1), state)
    logits = model.output(torch.tanh(model.combine(torch.cat([context, z], dim=-1))))
    return logits[:, 0], new_state, weights[:, 0]


def step_with_attend(model, previous, state, keys, mask):
    context, weights = attend(state.permute(1, 0, 2), keys, score=model.score, mask=mask)
    z, new_state = model.decoder(torch.cat([model.target_embedding(previous).unsqueeze(1), context], dim=2), state)
    logits = model.output(torch.tanh(model.combine(torch.cat([context, z], dim=-1))))
    return logits.squeeze(1), new_state, weights.squeeze(1)


def step_with_gru_equations(model, previous, state, keys, mask):
    """The GRU update written out from the layer's weights (gates r, z, n in PyTorch's order)."""
    gru, h = model.decoder, state[0]
    weights = masked_softmax(model.score(h[:, None], keys), mask)[:, 0]
    context = torch.einsum("bs,bsw->bw", weights, keys)
    x = torch.cat([model.target_embedding(previous), context], dim=-1)
    gi, gh = x @ gru.weight_ih_l0.T + gru.bias_ih_l0, h @ gru.weight_hh_l0.T + gru.bias_hh_l0
    (ir, iz, inn), (hr, hz, hn) = gi.chunk(3, -1), gh.chunk(3, -1)
    r, u = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    h_new = (1 - u) * torch.tanh(inn + r * hn) + u * h
    logits = model.output(torch.tanh(model.combine(torch.cat([context, h_new], dim=-1))))
    return logits, h_new[None], weights


@pytest.mark.parametrize("correct", [step, step_with_attend, step_with_gru_equations])
def test_bahdanau_step_accepts_correct_versions(correct, capsys):
    result = check_bahdanau_step(correct)
    assert result.passed, feedback_of(result)
    assert "6 of 6 checks passed. Well done!" in capsys.readouterr().out


def variant(**changes):
    """The correct step with one classic mistake."""
    def buggy(model, previous, state, keys, mask):
        score = ScaledDotScore() if changes.get("scaled") else model.score

        def attention(query):
            scores = score(query, keys)
            if changes.get("no_mask"):
                return torch.softmax(scores, dim=-1)
            return masked_softmax(scores, mask, dim=-2 if changes.get("axis") else -1)

        old = state.transpose(0, 1)
        weights = attention(old)
        context = weights @ keys
        embedded = model.target_embedding(previous[:, None])
        fed = torch.zeros_like(context) if changes.get("no_context") else old if changes.get("state_input") else context
        pair = [fed, embedded] if changes.get("swap_input") else [embedded, fed]
        z, new_state = model.decoder(torch.cat(pair, dim=-1), state)
        if changes.get("attend_again"):
            weights = attention(z)
            context = weights @ keys
        read = old if changes.get("old_readout") else z
        combined = model.combine(torch.cat([read, context] if changes.get("swap") else [context, read], dim=-1))
        logits = model.output(combined if changes.get("no_tanh") else torch.tanh(combined))
        if changes.get("probabilities"):
            logits = torch.softmax(logits, -1)
        if changes.get("detach"):
            logits = logits.detach()
        if changes.get("in_place"):
            state.copy_(new_state)
            new_state = state
        if changes.get("squeeze"):
            return logits.squeeze(), new_state, weights.squeeze()
        return logits[:, 0], state if changes.get("old_state") else new_state, weights[:, 0]
    return buggy


def luong_order(model, previous, state, keys, mask):
    """The chapter's step: the GRU on the embedding alone, then attention with z_t."""
    z, new_state = model.decoder(model.target_embedding(previous[:, None]), state)
    weights = masked_softmax(model.score(z, keys), mask)
    logits = model.output(torch.tanh(model.combine(torch.cat([weights @ keys, z], dim=-1))))
    return logits[:, 0], new_state, weights[:, 0]


def uses_forward(model, previous, state, keys, mask):
    return model.decode_step(previous, state, keys, mask)


def no_attention(model, previous, state, keys, mask):
    context = torch.zeros(keys.shape[0], 1, keys.shape[2])
    z, new_state = model.decoder(torch.cat([model.target_embedding(previous[:, None]), context], dim=-1), state)
    logits = model.output(torch.tanh(model.combine(torch.cat([context, z], dim=-1))))
    return logits[:, 0], new_state, torch.zeros(keys.shape[:2])


@pytest.mark.parametrize("buggy, hint", [
    (variant(no_mask=True), "the padded source positions got weight"),
    (variant(attend_again=True), "you attended with the new state z_t (Luong's order"),
    (luong_order, "model.decoder got the embedding alone (width 5), as in the chapter's Luong step"),
    (variant(scaled=True), "you scored with the scaled dot product"),
    (variant(axis=True), "softmax over the wrong axis"),
    (variant(no_context=True), "the GRU's input has no context"),
    (variant(state_input=True), "you fed the previous state z_{t-1} to the GRU in place of the context"),
    (variant(swap_input=True), "the GRU's input is [embed(y_{t-1}) ; c_t], the embedding first"),
    (variant(swap=True), "the combine layer expects [c_t ; z_t]"),
    (variant(old_readout=True), "the readout uses the new state z_t"),
    (variant(no_tanh=True), "the tanh is missing"),
    (variant(probabilities=True), "return the logits, before the softmax"),
    (variant(old_state=True), "you returned the state you were given"),
    (variant(detach=True), "no gradient reaches the model"),
    (variant(in_place=True), "your step changed one of its inputs in place"),
    (variant(squeeze=True), ".squeeze() drops the batch axis too"),
    (uses_forward, "model.decode_step computes the step for you"),
    (no_attention, "the weights differs from the reference"),
    (lambda model, previous, state, keys, mask: step(model, previous, state, keys, mask)[:2], "return a tuple (logits, new_state, weights)"),
])
def test_bahdanau_step_catches_classic_bugs(buggy, hint):
    result = check_bahdanau_step(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_bahdanau_step_names_each_bug_in_every_case_it_shows():
    """A bug that changes the weights is named where the weights are compared, in all three one-step cases."""
    result = check_bahdanau_step(variant(attend_again=True), verbose=False)
    assert [case.passed for case in result.cases[:3]] == [False, False, False]
    assert all("Luong's order" in case.feedback for case in result.cases[:3])


def test_bahdanau_step_stub(capsys):
    def my_bahdanau_step(model, previous, state, keys, mask):
        raise NotImplementedError
    assert not check_bahdanau_step(my_bahdanau_step).implemented
    assert not check_bahdanau_step(None).implemented
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", [check_var_qk, check_additive_score, check_temperature_gradient, check_masked_softmax,
                                     check_bahdanau_step])
def test_every_checker_has_hints(checker):
    assert len(checker.exercise.hints) >= 2


def test_a_rank_is_blamed_only_when_the_3d_batch_works():
    def swapped(q, k, W, U, v):  # fails on every rank when d_q != d_k: the rank is not the problem
        return additive(q, k, U, W, v)
    result = check_additive_score(swapped, verbose=False)
    assert "W and U are swapped" in feedback_of(result)
    assert "as a 3-D batch work" not in feedback_of(result)
