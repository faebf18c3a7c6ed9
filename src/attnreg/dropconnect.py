"""DropConnect (Wan et al., 2013): drop each *weight* of a linear layer at random, not each unit.

Conventions
-----------
``p`` is the **drop** probability, as everywhere in the course; the DropConnect paper writes the
keep probability, ``1 - p``. Training uses the *upscale in train* convention of inverted dropout:
the kept weights and biases are divided by ``1 - p``,

    u_b = ((M_b * W) x_b + m_b * b) / (1 - p),    M_b ~ Bernoulli(1 - p)^(out x in),  m_b ~ Bernoulli(1 - p)^out,

with a fresh mask ``(M_b, m_b)`` for every example ``b`` (``per_example=True``, as in the paper) or
one mask for the whole batch. Then ``E[u] = W x + b`` and

    Var[u_i] = p / (1 - p) * (sum_j W_ij^2 x_j^2 + b_i^2).

(In the paper's unscaled convention with keep probability ``q = 1 - p``: mean ``q W x``, variance
``q (1 - q) (W*W)(x*x)``, the bias counted as a weight on a constant input 1.)

Per-example masks would cost ``batch x out x in`` numbers if drawn at once. Here they are drawn in
chunks of examples, at most :data:`MAX_MASK_ELEMENTS` entries at a time, each chunk from its own
seed; the backward pass draws the same masks again from the same seeds instead of storing them,
so memory stays bounded whatever the batch size (time: every mask is drawn twice).

:func:`dropconnect_linear_local_reparam` is the fast alternative of Kingma, Salimans and Welling
(2015, *local reparameterization*): it draws each example's pre-activation from the Gaussian with
these moments, two matrix products and one normal number per unit instead of a mask per weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ._validation import check_choice, check_generator, check_int, check_probability, check_tensor

#: The most mask entries drawn at once (16 MiB in float32); per-example masks come in chunks of
#: examples below this size.
MAX_MASK_ELEMENTS = 2**22

#: How a :class:`DropConnectLinear` computes its output in evaluation mode.
INFERENCE_MODES = ("mean", "gaussian", "monte_carlo")

#: How a :class:`DropConnectLinear` draws its training-mode pre-activation: real Bernoulli masks,
#: or the Gaussian of the same mean and variance (:func:`dropconnect_linear_local_reparam`).
SAMPLING_MODES = ("masks", "local_reparam")

Activation = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _check_drop_probability(p: object) -> float:
    """p in [0, 1): with the upscaling by 1 / (1 - p), p = 1 would divide by zero."""
    return check_probability("p", p, allow_one=False)


def _check_input(x: object, in_features: int, name: str = "x") -> torch.Tensor:
    x = check_tensor(name, x, min_ndim=1, floating=True)
    if x.shape[-1] != in_features:
        raise ValueError(
            f"{name} must have in_features={in_features} features in its last dimension, got shape {tuple(x.shape)}")
    return x


def _check_layer_tensors(x: object, weight: object, bias: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    weight = check_tensor("weight", weight, ndim=2, floating=True)
    x = _check_input(x, weight.shape[1])
    if bias is not None:
        bias = check_tensor("bias", bias, ndim=1, floating=True)
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias must have out_features={weight.shape[0]} entries (one per row of weight), "
                             f"got shape {tuple(bias.shape)}")
    return x, weight, bias


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------


def _draw_seeds(count: int, generator: torch.Generator | None) -> list[int]:
    """``count`` seeds from ``generator`` (torch's global generator when None)."""
    device = generator.device if generator is not None else "cpu"
    return torch.randint(0, 2**62, (count,), generator=generator, device=device).tolist()


def _mask_from_seed(seed: int, shape: tuple[int, ...], keep: float, like: torch.Tensor) -> torch.Tensor:
    """A float 0/1 mask, 1 with probability ``keep``, drawn from ``seed`` (so it can be drawn again)."""
    generator = torch.Generator(device=like.device).manual_seed(seed)
    return torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype).lt_(keep)


def _chunks(n: int, chunk: int) -> list[slice]:
    return [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]


class _PerExampleDropConnect(torch.autograd.Function):
    """``out_b = ((M_b * W) x_b) / keep`` with a fresh mask per example, masks redrawn in backward.

    ``x`` already carries a column of ones and ``weight`` the bias as its last column, so that the
    bias is masked like any other weight.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, keep: float, seeds: list[int], chunk: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.keep, ctx.seeds, ctx.chunk = keep, seeds, chunk
        scaled = weight / keep
        out = x.new_empty(x.shape[0], weight.shape[0])
        for seed, rows in zip(seeds, _chunks(x.shape[0], chunk)):
            masked = _mask_from_seed(seed, (rows.stop - rows.start, *weight.shape), keep, x).mul_(scaled)
            out[rows] = torch.bmm(masked, x[rows].unsqueeze(-1)).squeeze(-1)
            del masked  # free this chunk's buffer before the next one is drawn
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        want_x, want_w = ctx.needs_input_grad[:2]
        grad_x = torch.empty_like(x) if want_x else None
        grad_w = torch.zeros_like(weight) if want_w else None
        scaled = weight / ctx.keep
        for seed, rows in zip(ctx.seeds, _chunks(x.shape[0], ctx.chunk)):
            mask = _mask_from_seed(seed, (rows.stop - rows.start, *weight.shape), ctx.keep, x)
            g = grad_out[rows]
            if want_x:  # dL/dx_b = (M_b * W / keep)^T g_b
                grad_x[rows] = torch.bmm(g.unsqueeze(1), mask * scaled).squeeze(1)
            if want_w:  # dL/dW = sum_b (g_b x_b^T) * M_b / keep
                grad_w += mask.mul_(x[rows].unsqueeze(1)).mul_(g.unsqueeze(2)).sum(0)
            del mask
        if want_w:
            grad_w /= ctx.keep
        return grad_x, grad_w, None, None, None


# --------------------------------------------------------------------------------------------
# Functional forms
# --------------------------------------------------------------------------------------------


def dropconnect_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    p: float = 0.5,
    *,
    per_example: bool = True,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Training-mode DropConnect: ``((M * W) x + m * b) / (1 - p)`` with ``M, m ~ Bernoulli(1 - p)``.

    ``x`` has shape ``(..., in)``; every row gets its own mask when ``per_example`` (drawn in chunks
    of ``chunk_size`` rows, default: as many as fit in :data:`MAX_MASK_ELEMENTS`), else one mask
    serves the whole batch. Masks come from ``generator`` (torch's global one when None).
    """
    x, weight, bias = _check_layer_tensors(x, weight, bias)
    p = _check_drop_probability(p)
    generator = check_generator(generator)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    if p == 0:
        return F.linear(x, weight, bias)
    keep = 1.0 - p
    rows = x.reshape(-1, x.shape[-1])
    if bias is not None:  # the bias as one more weight, on a constant input 1
        rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1)
        weight = torch.cat([weight, bias.unsqueeze(1)], dim=1)
    if per_example:
        chunk = chunk_size or max(1, MAX_MASK_ELEMENTS // weight.numel())
        seeds = _draw_seeds(math.ceil(rows.shape[0] / chunk), generator)
        out = _PerExampleDropConnect.apply(rows, weight, keep, seeds, chunk)
    else:
        mask = _mask_from_seed(_draw_seeds(1, generator)[0], tuple(weight.shape), keep, weight)
        out = F.linear(rows, weight * mask / keep)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def dropconnect_linear_local_reparam(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    p: float = 0.5,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Training-mode DropConnect by local reparameterization (Kingma, Salimans and Welling, 2015).

    Instead of masking the weights, draw every pre-activation from the Gaussian with the mean and
    variance that per-example masks give it (see :func:`preactivation_moments`):

        mu = W x + b,    sigma^2 = p / (1 - p) * ((W*W)(x*x) + b*b),    u = mu + sigma * eps,

    ``eps ~ N(0, 1)`` independently for every row of ``x`` and every output unit. It costs two
    matrix products and one normal number per unit, against one Bernoulli number per weight and
    example for :func:`dropconnect_linear`, and it is differentiable in ``x``, ``weight`` and
    ``bias`` through both ``mu`` and ``sigma`` (the reparameterization ``u = mu + sigma * eps``).
    Where ``sigma^2`` is 0 the gradient through ``sigma`` is taken as 0 (``sqrt`` has an infinite
    derivative there). ``p = 0`` gives the plain layer ``x @ W.T + b``. The noise comes from
    ``generator`` (torch's global one when None).

    What it reproduces and what not, for per-example masks with independent entries:

    - the mean and the variance of every ``u_i`` exactly;
    - the dependence between the units of one example, which is none: ``u_i`` uses only row ``i``
      of the weight mask and entry ``i`` of the bias mask, and the rows are independent, so the
      units of one example are independent given ``x`` under real masks too, as they are here
      (one ``eps_i`` per unit loses no correlation);
    - not the distribution itself: ``u_i`` is a sum of ``in + 1`` Bernoulli-weighted terms, close to
      Gaussian only when many terms of comparable size contribute (a 3-input unit takes at most
      16 values; its Gaussian stand-in takes all real values);
    - not the masks' gradient either: a real mask gives ``dL/dW_ij = g_i M_ij x_j / (1 - p)``, here
      ``dL/dW_ij = g_i (x_j + eps_i * p / (1 - p) * W_ij x_j^2 / sigma_i)``, an unbiased gradient of
      the Gaussian model's expected loss, which differs from the masks' expected loss as the
      distributions differ;
    - nor one mask shared by a batch (``per_example=False``), whose examples are correlated.
    """
    x, weight, bias = _check_layer_tensors(x, weight, bias)
    p = _check_drop_probability(p)
    generator = check_generator(generator)
    if p == 0:
        return F.linear(x, weight, bias)
    mean = F.linear(x, weight, bias)
    square_bias = None if bias is None else bias.square()
    variance = p / (1.0 - p) * F.linear(x.square(), weight.square(), square_bias)
    positive = variance > 0
    std = torch.where(positive, torch.where(positive, variance, torch.ones_like(variance)).sqrt(),
                      torch.zeros_like(variance))
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + std * noise


def apply_dropconnect_masks(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_mask: torch.Tensor,
    bias_mask: torch.Tensor | None,
    p: float,
) -> torch.Tensor:
    """``y_b = ((M_b * W) x_b + m_b * b) / (1 - p)`` with the masks given, materialized at once.

    The straightforward formulation: ``weight_mask`` is ``(batch, out, in)`` (or ``(out, in)`` for
    one mask per batch) and ``bias_mask`` ``(batch, out)`` (or ``(out,)``). It costs
    ``batch x out x in`` numbers; :func:`dropconnect_linear` draws the same kind of masks in chunks.
    """
    x, weight, bias = _check_layer_tensors(x, weight, bias)
    x = check_tensor("x", x, ndim=2)
    p = _check_drop_probability(p)
    weight_mask = check_tensor("weight_mask", weight_mask, ndim=(2, 3))
    if weight_mask.shape[-2:] != weight.shape or (weight_mask.ndim == 3 and weight_mask.shape[0] != x.shape[0]):
        raise ValueError(f"weight_mask must have shape (batch, out, in) = ({x.shape[0]}, {weight.shape[0]}, "
                         f"{weight.shape[1]}) or (out, in), got shape {tuple(weight_mask.shape)}")
    masked = weight_mask.to(weight.dtype) * weight
    out = torch.einsum("boi,bi->bo", masked, x) if masked.ndim == 3 else F.linear(x, masked)
    if bias is not None:
        if bias_mask is None:
            raise ValueError("bias_mask must be given when bias is given, got None")
        bias_mask = check_tensor("bias_mask", bias_mask, ndim=(1, 2))
        if bias_mask.shape[-1] != bias.shape[0] or (bias_mask.ndim == 2 and bias_mask.shape[0] != x.shape[0]):
            raise ValueError(f"bias_mask must have shape (batch, out) = ({x.shape[0]}, {bias.shape[0]}) or (out,), "
                             f"got shape {tuple(bias_mask.shape)}")
        out = out + bias_mask.to(bias.dtype) * bias
    return out / (1.0 - p)


def preactivation_moments(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, p: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the training-mode pre-activation ``u`` (upscaled convention).

    ``E[u] = W x + b`` and ``Var[u] = p / (1 - p) * ((W*W)(x*x) + b*b)``: the terms of
    ``u_i = sum_j M_ij W_ij x_j / (1 - p)`` are independent, each with variance
    ``W_ij^2 x_j^2 p (1 - p) / (1 - p)^2``.
    """
    x, weight, bias = _check_layer_tensors(x, weight, bias)
    p = _check_drop_probability(p)
    mean = F.linear(x, weight, bias)
    square_bias = None if bias is None else bias.square()
    variance = p / (1.0 - p) * F.linear(x.square(), weight.square(), square_bias)
    return mean, variance


def relu_gaussian_mean(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """``E[max(0, u)]`` for ``u ~ N(mean, variance)``: ``mu Phi(mu / sigma) + sigma phi(mu / sigma)``.

    Where ``variance`` is 0 it is ``max(0, mean)``, with finite gradients: the smooth formula is
    evaluated there on a stand-in variance of 1, since ``torch.where`` would multiply the infinite
    derivative of ``sqrt`` at 0 by zero and give NaN.
    """
    mean = check_tensor("mean", mean, floating=True)
    variance = check_tensor("variance", variance, floating=True)
    if (variance < 0).any():
        raise ValueError(f"variance must be >= 0, got a minimum of {variance.min().item():.3g}")
    positive = variance > 0
    std = torch.where(positive, variance, torch.ones_like(variance)).sqrt()
    z = mean / std
    normal = torch.distributions.Normal(torch.zeros((), dtype=mean.dtype, device=mean.device), 1.0)
    smooth = mean * normal.cdf(z) + std * normal.log_prob(z).exp()
    return torch.where(positive, smooth, mean.clamp_min(0))


# --------------------------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------------------------


class DropConnectLinear(nn.Linear):
    """A DropConnect layer ``r = a(u)``, ``u = ((M * W) x + m * b) / (1 - p)`` in training.

    Same parameters and initialization as :class:`torch.nn.Linear`. ``activation`` (default: none)
    is part of the layer because the ``"gaussian"`` inference averages ``a(u)``. In training mode,
    ``sampling`` chooses how ``u`` is drawn:

    - ``"masks"``: real Bernoulli masks, per example (``per_example=True``) or per batch;
    - ``"local_reparam"``: ``u ~ N(E[u], Var[u])``, independently per example and unit
      (:func:`dropconnect_linear_local_reparam`; needs ``per_example=True``).

    In evaluation mode:

    - ``"mean"``: ``a(W x + b)``, one deterministic pass, as dropout does;
    - ``"gaussian"``: ``(1/S) sum_s a(u_s)``, ``u_s ~ N(E[u], Var[u])`` (moment matching, as in the
      paper), ``S = num_samples``;
    - ``"monte_carlo"``: ``(1/S) sum_s a(u_s)`` with ``S`` training-mode samples (real masks with
      ``sampling="masks"``), computed without autograd
      (an estimate for prediction: keeping the graph of ``S`` sampled passes would cost ``S`` times
      the memory of one), so its output carries no gradient.

    Masks and Gaussian noise come from ``generator`` when one is given (torch's global generator
    when None), so that a seeded generator makes training and sampled inference repeatable without
    touching the global random state.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        per_example: bool = True,
        inference: str = "mean",
        num_samples: int = 256,
        activation: Activation | None = None,
        chunk_size: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        sampling: str = "masks",
    ) -> None:
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if activation is not None and not callable(activation):
            raise TypeError(f"activation must be callable or None, got {type(activation).__name__}")
        self.activation = activation if activation is not None else nn.Identity()
        self.p, self.per_example, self.inference, self.num_samples = p, per_example, inference, num_samples
        self.sampling = sampling
        self.chunk_size = None if chunk_size is None else check_int("chunk_size", chunk_size, minimum=1)
        self.generator = generator

    @property
    def generator(self) -> torch.Generator | None:
        return self._generator

    @generator.setter
    def generator(self, value: torch.Generator | None) -> None:
        self._generator = check_generator(value)

    # Validated on every assignment, so that `layer.inference = "gausian"` fails at once.
    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        self._p = _check_drop_probability(value)

    @property
    def per_example(self) -> bool:
        return self._per_example

    @per_example.setter
    def per_example(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"per_example must be True or False, got {value!r}")
        self._per_example = value

    @property
    def inference(self) -> str:
        return self._inference

    @inference.setter
    def inference(self, value: str) -> None:
        self._inference = check_choice("inference", value, INFERENCE_MODES)

    @property
    def sampling(self) -> str:
        return self._sampling

    @sampling.setter
    def sampling(self, value: str) -> None:
        self._sampling = check_choice("sampling", value, SAMPLING_MODES)

    @property
    def num_samples(self) -> int:
        return self._num_samples

    @num_samples.setter
    def num_samples(self, value: int) -> None:
        self._num_samples = check_int("num_samples", value, minimum=1)

    @classmethod
    def from_linear(cls, linear: nn.Linear, **options) -> DropConnectLinear:
        """A DropConnect layer with a copy of ``linear``'s weights (draws no random numbers)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        layer = nn.utils.skip_init(cls, linear.in_features, linear.out_features, bias=linear.bias is not None,
                                   device=linear.weight.device, dtype=linear.weight.dtype, **options)
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def preactivation_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``W x + b`` and variance ``p/(1-p) ((W*W)(x*x) + b*b)`` of the training-mode ``u``."""
        _check_input(x, self.in_features)
        return preactivation_moments(x, self.weight, self.bias, self.p)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One training-mode output ``a(u)`` (fresh masks or Gaussian noise), whatever the module's mode.

        The random numbers come from ``generator``, else from the layer's own ``generator``, else from
        torch's global generator.
        """
        _check_input(x, self.in_features)
        generator = check_generator(generator) if generator is not None else self.generator
        if self.sampling == "local_reparam":
            if not self.per_example:
                raise ValueError("sampling='local_reparam' draws independent noise for every example, "
                                 "so it needs per_example=True, got per_example=False")
            return self.activation(dropconnect_linear_local_reparam(x, self.weight, self.bias, self.p,
                                                                    generator=generator))
        u = dropconnect_linear(x, self.weight, self.bias, self.p, per_example=self.per_example,
                               generator=generator, chunk_size=self.chunk_size)
        return self.activation(u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features)
        if self.training:
            return self.sample(x)
        if self.inference == "mean" or self.p == 0:
            return self.activation(F.linear(x, self.weight, self.bias))
        if self.inference == "monte_carlo":
            with torch.no_grad():  # S sampled passes: an estimate for prediction, not a graph to keep
                total = self.sample(x)
                for _ in range(self.num_samples - 1):
                    total += self.sample(x)
            return total / self.num_samples
        mean, variance = self.preactivation_moments(x)
        std = variance.sqrt()
        total = torch.zeros_like(mean)
        block = max(1, MAX_MASK_ELEMENTS // max(1, mean.numel()))
        for start in range(0, self.num_samples, block):
            count = min(block, self.num_samples - start)
            noise = torch.randn((count, *mean.shape), device=mean.device, dtype=mean.dtype, generator=self.generator)
            total += self.activation(mean + std * noise).sum(0)
        return total / self.num_samples

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, p={self.p}, per_example={self.per_example}, "
                f"inference={self.inference!r}, num_samples={self.num_samples}, sampling={self.sampling!r}")


def with_dropconnect(model: nn.Sequential, index: int, **options) -> nn.Sequential:
    """Fuse ``model[index]`` (a Linear) and ``model[index + 1]`` (its activation) into a DropConnect layer.

    The new :class:`DropConnectLinear` keeps the Linear's weights and applies the activation itself
    (the ``"gaussian"`` inference needs it); ``model[index + 1]`` becomes ``nn.Identity()`` so that
    the other indices do not move. ``options`` go to :class:`DropConnectLinear` (``p``, ...).
    Changes ``model`` in place and returns it.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    index = check_int("index", index, minimum=0, maximum=len(model) - 2)
    if not isinstance(model[index], nn.Linear) or isinstance(model[index], DropConnectLinear):
        raise TypeError(f"model[{index}] must be a torch.nn.Linear, got {type(model[index]).__name__}")
    if "activation" in options:
        raise TypeError("activation is taken from model[index + 1]; do not pass it")
    model[index] = DropConnectLinear.from_linear(model[index], activation=model[index + 1], **options)
    model[index + 1] = nn.Identity()
    return model


# --------------------------------------------------------------------------------------------
# Measuring cost
# --------------------------------------------------------------------------------------------


def saved_tensor_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors that autograd saves for the backward pass while ``fn()`` runs.

    Every tensor that an operation keeps for its gradient (an input of ``x @ W``, the output of a
    ReLU, a dropout mask, what a custom :class:`torch.autograd.Function` passes to
    ``save_for_backward``) goes through the public hooks :class:`torch.autograd.graph.saved_tensors_hooks`;
    the bytes of its storage are counted once per storage, however many operations save it or a
    view of it. For one forward pass this is the activation memory that the step holds from the
    forward pass until the backward pass frees it, on any device. It leaves out the temporary
    buffers an operation frees before it returns, the gradients, and the storages of ``exclude``
    (a model's parameters, say, which exist whatever the step saves). The counted storages are
    kept until the function returns, so that no address is reused and counted twice.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    excluded = set()
    for i, tensor in enumerate(exclude):
        check_tensor(f"exclude[{i}]", tensor)
        excluded.add((tensor.device, tensor.untyped_storage().data_ptr()))
    counted: dict[tuple[torch.device, int], torch.UntypedStorage] = {}  # kept alive, so no address is reused

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = (tensor.device, storage.data_ptr())
        if key not in excluded:
            counted[key] = storage
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(storage.nbytes() for storage in counted.values())
