"""The mean of several networks' weights: runs fine-tuned from the same weights stay close enough
for their mean to be a network too, and it reads (or detects) better than any of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stream_lpr.errors import StreamLprError

if TYPE_CHECKING:
    import torch


def mean_weights(states: list[dict[str, torch.Tensor]], names: list[str]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts of one shape (`names` say whose, for the error)."""
    import torch  # here, not above: train.detector imports this, and its tile-writing processes need no torch

    first = states[0]
    if any(s.keys() != first.keys() or any(s[k].shape != v.shape for k, v in first.items()) for s in states):
        raise StreamLprError("cannot average networks of different shapes: " + ", ".join(names))
    # Integer buffers (BatchNorm's batch count) are counts, not weights: the first one's are kept.
    return {name: torch.stack([s[name].float() for s in states]).mean(0).to(value.dtype)
            if value.is_floating_point() else value for name, value in first.items()}
