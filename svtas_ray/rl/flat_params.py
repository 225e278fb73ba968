"""A model's trainable parameters as views of one flat tensor, their gradients of another.

The learner makes many small optimiser steps (the recipe: 32 per update of 128 frames each), so
per-tensor bookkeeping is a visible share of a step: on the default segmenter (94 parameter
tensors, 345 k values) zeroing the gradients, clipping their norm and a fused Adam step took
1.3 ms per step over the tensors and 0.5 ms over one flat tensor (one CPU thread), ~8 % of a
recipe step. With flat storage each of those is one kernel, and the gradient all-reduce of
several learners needs no gather into a buffer and scatter back.

Autograd accumulates into an existing ``.grad`` in place, so the parameters' gradients stay views
of :attr:`FlatParameters.grad` as long as nothing sets them to None: zero them with
:meth:`FlatParameters.zero_grad`, never ``optimizer.zero_grad()`` or ``model.zero_grad()``
(:meth:`FlatParameters.check` says so if it happened).

Checkpoints keep the optimiser state per parameter tensor, as ``torch.optim.Adam`` over the
model's ``parameters()`` writes it (:meth:`per_tensor_state` / :meth:`flat_state`), so the
checkpoint format does not depend on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


class FlatParameters:
    """``params`` re-seated as views of :attr:`flat`; :attr:`flat` ``.grad`` is :attr:`grad`."""

    def __init__(self, params: Sequence[nn.Parameter]) -> None:
        if not params:
            raise ValueError("no trainable parameters to flatten")
        self.params = list(params)
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.flat)
        self.flat.grad = self.grad
        self.slices: list[slice] = []
        offset = 0
        for p in self.params:
            part = slice(offset, offset + p.numel())
            p.data = self.flat[part].view_as(p)
            p.grad = self.grad[part].view_as(p)
            self.slices.append(part)
            offset = part.stop

    def zero_grad(self) -> None:
        self.grad.zero_()

    def check(self) -> None:
        """Raise if a parameter's gradient is no longer a view of :attr:`grad`."""
        for p in (self.params[0], self.params[-1]):
            storage = None if p.grad is None else p.grad.untyped_storage().data_ptr()
            if storage != self.grad.untyped_storage().data_ptr():
                raise RuntimeError(
                    "a parameter's gradient was replaced (zero_grad(set_to_none=True)?): "
                    "zero them with FlatParameters.zero_grad()"
                )

    def per_tensor_state(
        self, state: dict[str, Any], all_params: Sequence[nn.Parameter]
    ) -> dict[str, Any]:
        """An optimiser ``state_dict`` over :attr:`flat` -> the same over ``all_params`` (the
        model's ``parameters()``, frozen ones included), one entry per trainable tensor."""
        index = {id(p): i for i, p in enumerate(all_params)}
        flat_state = state["state"].get(0, {})
        per: dict[int, dict[str, Tensor]] = {}
        if flat_state:
            for p, part in zip(self.params, self.slices, strict=True):
                per[index[id(p)]] = {
                    k: v[part].view_as(p).clone() if self._is_flat(v) else v.clone()
                    for k, v in flat_state.items()
                }
        group = {**state["param_groups"][0], "params": list(range(len(all_params)))}
        return {"state": per, "param_groups": [group]}

    def flat_state(
        self, state: dict[str, Any], all_params: Sequence[nn.Parameter]
    ) -> dict[str, Any]:
        """The inverse of :meth:`per_tensor_state`: per-tensor state -> state over :attr:`flat`
        (a trainable tensor without state, e.g. never stepped, gets zeros)."""
        index = {id(p): i for i, p in enumerate(all_params)}
        entries = [state["state"].get(index[id(p)]) for p in self.params]
        flat_state: dict[str, Tensor] = {}
        if any(e is not None for e in entries):
            first = next(e for e in entries if e is not None)
            for key, value in first.items():
                if value.dim() == 0:
                    flat_state[key] = value.clone()
                else:
                    flat_state[key] = torch.cat(
                        [
                            (e[key] if e is not None else torch.zeros_like(p)).reshape(-1)
                            for p, e in zip(self.params, entries, strict=True)
                        ]
                    ).to(self.flat.device)
        group = {**state["param_groups"][0], "params": [0]}
        return {"state": {0: flat_state} if flat_state else {}, "param_groups": [group]}

    def _is_flat(self, value: Tensor) -> bool:
        return value.dim() == 1 and value.numel() == self.flat.numel()
