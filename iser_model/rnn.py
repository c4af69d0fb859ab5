"""Bidirectional RNNs over padded rows that never let padding into either direction's recurrence.

Both RNNs of ISER (the fusion BiLSTM, Eq. 5, and SEA's BiGRU, Eq. 9) are a :class:`BiRNN`: two
unidirectional cells, the backward one over each row reversed within its own length (one gather each
way), so padding only ever follows a row's real positions in either direction.

How the cells skip the padding depends on what the work is bound by (measured with MiniLM on CoNLL04):

* :meth:`BiRNN.padded` (training anywhere; inference over rows of one length): the cells run over the
  padded rows and what they compute past each row's end is discarded. ``pack_padded_sequence`` and
  ``pad_packed_sequence`` copy rows a slice at a time: one copy per distinct row length forward, and one
  per time step in backward (a dispatch census: 50 positions, 50 copies in one pack's backward). On
  CUDA those are launches of a step bound by how many kernels the host can launch; on a CPU packing
  made a batch-2 training step 1.34× slower (726 against 543 ms). Padded steps cost compute, but
  training batches are bucketed by length, so their rows differ by a few positions.
* :meth:`BiRNN.packed` (inference over rows of different lengths, on any device): the cells run over
  packed rows. SEA's rows are every candidate span, each as long as its sentence, so a batch of 32
  sentences pads tens of thousands of rows to its longest sentence. Padded, inference at batch 32 was
  1.3× slower on a CPU (2.0 against 2.6 sentences/s) and on the H200 (commit 0d9391d against fb3ab40:
  179 against 226 sentences/s, with 19.7 against 10.8 GiB of GPU memory; 55 against 152 sentences/s on
  the longest sentences). Packed again (commit bb7711e): 300 sentences/s in 11.0 GiB.

The cells run in float32 even under bf16 autocast: bf16 RNN kernels are missing on some
PyTorch/cuDNN combinations, and the recurrence is a small share of the time.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ddikg.iser_model.batching import host_to_device

#: nn.GRU / nn.LSTM parameter names of one layer; a bidirectional module adds a ``_reverse`` copy
_PARAMS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


class BiRNN(nn.Module):
    """A one-layer bidirectional GRU or LSTM (batch first) over the first ``lengths[i]`` positions of
    each row.  Parameters: ``fwd`` and ``bwd``, one unidirectional cell each (hidden ``hidden`` per
    direction, outputs ``2 * hidden`` wide)."""

    def __init__(self, cell: Literal["gru", "lstm"], input_size: int, hidden: int):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.fwd = rnn(input_size, hidden, batch_first=True)
        self.bwd = rnn(input_size, hidden, batch_first=True)
        self._register_load_state_dict_pre_hook(_from_bidirectional_keys)

    # eager under torch.compile (IserConfig.compile): dynamo cannot trace the cells, and a graph broken
    # inside the autocast block would leave the gathers to recompile per input layout
    @torch.compiler.disable
    def forward(self, x: torch.Tensor, lengths: torch.Tensor, *, outputs: bool) -> torch.Tensor:
        """x: (N, n, f); lengths: (N,), best on the host (copied without a sync).

        Returns the outputs (N, n, 2·hidden), forward ⊕ backward and zero past each row's length, if
        ``outputs``; else the final forward and backward states concatenated, (N, 2·hidden).
        Inference over rows of different lengths runs packed; training and rows of one length padded
        (see the module text)."""
        lengths = lengths.clamp(min=1)
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if not torch.is_grad_enabled() and _uneven(lengths, x.device):
                return self.packed(x, lengths, outputs=outputs)
            return self.padded(x, lengths, outputs=outputs)

    def padded(self, x: torch.Tensor, lengths: torch.Tensor, *, outputs: bool) -> torch.Tensor:
        """:meth:`forward` over the padded rows (float32 ``x``): a fixed number of launches."""
        length = host_to_device(lengths, x.device)[:, None]  # (N, 1)
        rev, valid = _reversal(length, x.shape[1])
        out_f, _ = self.fwd(x)  # (N, n, h)
        out_b, _ = self.bwd(_take(x, rev))  # (N, n, h) in reversed order
        if outputs:
            return torch.cat([out_f, _take(out_b, rev)], -1) * valid[..., None]  # (N, n, 2h)
        last = length - 1  # (N, 1): each direction's final step
        return torch.cat([_take(out_f, last), _take(out_b, last)], -1)[:, 0]  # (N, 2h)

    def packed(self, x: torch.Tensor, lengths: torch.Tensor, *, outputs: bool) -> torch.Tensor:
        """:meth:`forward` over packed rows (float32 ``x``): no compute on padding, copies per time step."""
        N, n, f = x.shape
        lengths = lengths.cpu()  # pack_padded_sequence wants them on the host
        order = torch.argsort(lengths, descending=True, stable=True)  # rows by length, as packing needs
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(N)
        rows = x.reshape(N * n, f)
        # the backward cell's input sorted and reversed in one copy: row order[r], position rev[r, t]
        rev_sorted, _ = _reversal(lengths[order, None], n)
        x_b = rows.index_select(0, (order[:, None] * n + rev_sorted).view(-1).to(x.device)).view(N, n, f)
        order_d, inverse_d = order.to(x.device), inverse.to(x.device)

        def run(cell: nn.RNNBase, sorted_rows: torch.Tensor):
            out, last = cell(pack_padded_sequence(sorted_rows, lengths[order], batch_first=True, enforce_sorted=True))
            if outputs:  # (N, n, h) in sorted order, zero past each length
                return pad_packed_sequence(out, batch_first=True, total_length=n)[0]
            last = last[0] if isinstance(last, tuple) else last  # an LSTM's (h, c): h
            return last[-1].index_select(0, inverse_d)  # (N, h): each row's state at its last real step

        out_f, out_b = run(self.fwd, x.index_select(0, order_d)), run(self.bwd, x_b)
        if not outputs:
            return torch.cat([out_f, out_b], -1)  # (N, 2h)
        # back to the input order, the backward outputs also back to forward time, one copy each
        rev, _ = _reversal(lengths[:, None], n)
        h = out_b.shape[-1]
        out_b = out_b.reshape(N * n, h).index_select(0, (inverse[:, None] * n + rev).view(-1).to(x.device))
        return torch.cat([out_f.index_select(0, inverse_d), out_b.view(N, n, h)], -1)  # (N, n, 2h)


def _uneven(lengths: torch.Tensor, device: torch.device) -> bool:
    """Whether the rows differ in length. Lengths already on a GPU are not read back (a device sync for a
    choice): the CPU packs those, CUDA keeps them padded."""
    if lengths.device.type != "cpu":
        return device.type == "cpu"
    return lengths.numel() > 1 and bool(lengths.min() != lengths.max())


def _reversal(length: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For lengths (N, 1): the index (N, n) that reverses each row's first ``length`` positions and
    keeps the rest, and the mask (N, n) of real positions."""
    pos = torch.arange(n, device=length.device)[None]  # (1, n)
    valid = pos < length
    return torch.where(valid, length - 1 - pos, pos), valid


def _take(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """t[r, index[r, i]] for every row r.  t: (N, n, f); index: (N, m) -> (N, m, f)"""
    return t.gather(1, index[..., None].expand(-1, -1, t.shape[-1]))


def _from_bidirectional_keys(state_dict, prefix, *_args) -> None:
    """Checkpoints saved before BiRNN hold one bidirectional nn.GRU/nn.LSTM: ``weight_ih_l0`` is the
    forward cell's, ``weight_ih_l0_reverse`` the backward cell's. Rename them in place."""
    for name in _PARAMS:
        if prefix + name in state_dict:
            state_dict[f"{prefix}fwd.{name}"] = state_dict.pop(prefix + name)
        if f"{prefix}{name}_reverse" in state_dict:
            state_dict[f"{prefix}bwd.{name}"] = state_dict.pop(f"{prefix}{name}_reverse")
