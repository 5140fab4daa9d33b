"""LazyAdam: Adam on dense gradients, SparseAdam on sparse ones, in one optimizer."""

from __future__ import annotations

import torch

from expkit.optimizers import LazyAdam


def _train(make_optimizers, sparse: bool, steps: int = 5) -> list[torch.Tensor]:
    torch.manual_seed(0)
    emb = torch.nn.EmbeddingBag(30, 4, sparse=sparse)
    fc = torch.nn.Linear(4, 3)
    optimizers = make_optimizers(emb, fc)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        ids = torch.randint(0, 30, (12,), generator=gen)
        loss = fc(emb(ids, torch.tensor([0, 5]))).pow(2).sum()
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
    return [emb.weight.detach().clone(), fc.weight.detach().clone()]


def test_matches_sparse_adam_and_adam():
    ours = _train(lambda emb, fc: [LazyAdam(list(emb.parameters()) + list(fc.parameters()), lr=0.1)], sparse=True)
    torch_ = _train(
        lambda emb, fc: [torch.optim.SparseAdam(emb.parameters(), lr=0.1), torch.optim.Adam(fc.parameters(), lr=0.1)],
        sparse=True,
    )
    for a, b in zip(ours, torch_):
        torch.testing.assert_close(a, b)


def test_dense_gradients_match_adam():
    # Both branches use SparseAdam's formula (eps added before bias correction); torch's Adam adds
    # eps after it, which differs only where the second moment is tiny.
    ours = _train(lambda emb, fc: [LazyAdam(list(emb.parameters()) + list(fc.parameters()), lr=0.1)], sparse=False)
    torch_ = _train(lambda emb, fc: [torch.optim.Adam(list(emb.parameters()) + list(fc.parameters()), lr=0.1)], sparse=False)
    for a, b in zip(ours, torch_):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_state_dict_round_trip_is_plain():
    emb = torch.nn.EmbeddingBag(10, 2, sparse=True)
    opt = LazyAdam(emb.parameters())
    emb(torch.tensor([1, 2]), torch.tensor([0])).sum().backward()
    opt.step()
    state = opt.state_dict()
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    fresh = LazyAdam(emb.parameters())
    fresh.load_state_dict(loaded)
    assert float(fresh.state[emb.weight]["step"]) == 1.0
