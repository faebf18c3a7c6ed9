"""Data augmentation: images shifted by a few pixels, a transformation that keeps their labels."""

from __future__ import annotations

import torch

from .._validation import check_generator, check_int, check_tensor


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift every image by its own random ``(dy, dx)``, each uniform on ``{-max_shift, ..., max_shift}``.

    ``images`` has shape ``(n, ..., H, W)``; the output has the same shape, with
    ``out[i, ..., r, c] = images[i, ..., r - dy_i, c - dx_i]`` where that pixel exists and 0 where the
    shift moved the image away (zero padding, then a crop). The shifts are drawn on the CPU from
    ``generator``, so a seeded generator gives the same shifts on every device. The input is not modified.
    """
    images = check_tensor("images", images, min_ndim=3)
    height, width = images.shape[-2:]
    max_shift = check_int("max_shift", max_shift, minimum=0, maximum=min(height, width) - 1)
    generator = check_generator(generator)
    n = len(images)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator).to(images.device)
    flat = images.reshape(n, -1, height, width)
    padded = torch.nn.functional.pad(flat, (max_shift,) * 4)
    rows = torch.arange(height, device=images.device) - shifts[:, :1] + max_shift    # (n, H): source rows
    cols = torch.arange(width, device=images.device) - shifts[:, 1:] + max_shift     # (n, W): source columns
    example = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(flat.shape[1], device=images.device)[None, :, None, None]
    shifted = padded[example, channel, rows[:, None, :, None], cols[:, None, None, :]]
    return shifted.reshape(images.shape)
