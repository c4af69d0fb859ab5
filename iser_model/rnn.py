"""Bidirectional RNNs over padded rows, packed so padding never enters the recurrence.

Both RNNs of ISER (the fusion BiLSTM, Eq. 5, and SEA's BiGRU, Eq. 9) run through :func:`run_packed`.
cuDNN needs the rows sorted by length with the lengths on the host. Given host lengths (the collate
functions supply them), the sort happens on the host and its permutation travels to the device
through pinned memory, so a training step waits for the GPU nowhere here; ``pack_padded_sequence``'s
own unsorted path would copy its permutation synchronously, and reading lengths back from the
device would drain the GPU's queue (each a stall of the whole step at batch size 2).

The RNNs run in float32 even under bf16 autocast: bf16 RNN kernels are missing on some
PyTorch/cuDNN combinations, and the recurrence is a small share of the time.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def _to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, *, outputs: bool
               ) -> torch.Tensor:
    """Run ``rnn`` (bidirectional, batch_first) over the first ``lengths[i]`` positions of each row.

    x: (N, n, f); lengths: (N,) on the host (a device tensor is read back, which syncs).
    Returns the outputs (N, n, d), zero past each row's length, if ``outputs``; else the final
    forward and backward states concatenated, (N, d).
    """
    lengths = lengths.cpu().clamp(min=1)
    order = torch.argsort(lengths, descending=True, stable=True)  # host
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    order_d, inverse_d = _to(order, x.device), _to(inverse, x.device)
    with torch.autocast(x.device.type, enabled=False):
        packed = pack_padded_sequence(x.float().index_select(0, order_d), lengths[order], batch_first=True,
                                      enforce_sorted=True)
        out, last = rnn(packed)
        if outputs:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            return out.index_select(0, inverse_d)  # (N, n, d)
    last = last[0] if isinstance(last, tuple) else last  # an LSTM's (h, c): h
    return torch.cat([last[-2], last[-1]], -1).index_select(0, inverse_d)  # (N, d): forward ⊕ backward
