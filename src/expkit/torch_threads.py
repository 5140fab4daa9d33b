"""torch's intra-op thread count for one run (config key `torch_threads`): used by training and by
loading a run, so it sits below both."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to `count` (config key `torch_threads`) for the block,
    then put back: in a notebook or a sweep, one run's setting does not leak into the next.
    None keeps the current count."""
    import torch

    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
