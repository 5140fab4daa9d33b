"""Optimizers torch lacks; each has a YAML file in conf/optimizer/."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch


class LazyAdam(torch.optim.Optimizer):
    """Adam that also takes sparse gradients, updating only the rows a batch touched.

    torch's Adam refuses sparse gradients and SparseAdam refuses dense ones, while a bag-of-
    embeddings classifier has both (a sparse embedding, a dense output layer). Dense parameters
    get the usual Adam update; for a sparse gradient the moments and weights of the touched rows
    are updated ("lazy" Adam, as TensorFlow Addons' LazyAdam), which keeps a step's cost
    proportional to the batch, not to the vocabulary.
    """

    supports_sparse_gradients = True

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8, weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or eps <= 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid LazyAdam settings lr={lr} betas={betas} eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                step = float(state["step"])
                step_size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                if p.grad.is_sparse:
                    grad = p.grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()
                    if group["weight_decay"]:
                        values = values + group["weight_decay"] * p[rows]
                    # Coalesced rows are unique: index_select/index_copy_ are several times faster
                    # than advanced indexing and index_add_ here.
                    m_rows = m.index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
                    v_rows = v.index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
                    m.index_copy_(0, rows, m_rows)
                    v.index_copy_(0, rows, v_rows)
                    update = m_rows.div_(v_rows.sqrt_().add_(group["eps"]))
                    p.index_copy_(0, rows, p.index_select(0, rows).add_(update, alpha=-step_size))
                else:
                    grad = p.grad
                    if group["weight_decay"]:
                        grad = grad.add(p, alpha=group["weight_decay"])
                    m.mul_(beta1).add_(grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size)
        return loss
