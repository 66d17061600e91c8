"""Convolutional LSTM (Shi et al. 2015): an LSTM whose gates are convolutions, so its state is a feature map.

Both classes can be **stepped one frame at a time** (``step``) as well as unrolled over a whole clip
(``forward``), and both give the same numbers: a generator can feed each output back as the next input,
and a predictor can continue from a saved state. (ndrplz/ConvLSTM_pytorch, the usual reference, only
unrolls a whole sequence.) Tensors follow vidsynth's layout: frames ``[B, C, H, W]``, clips
``[B, C, T, H, W]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (hidden h, cell c), each [B, hidden_channels, H, W]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer for one time step: ``(x_t, (h, c)) -> (h', c')``.

    The four gates come from a single convolution of ``[x_t, h]`` (one kernel for all gates, as in
    Shi et al. without the peephole terms). The forget gate's bias starts at 1 so that early in training
    the cell keeps its memory instead of erasing it (Jozefowicz et al. 2015).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so the state keeps its size, got {kernel_size}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2, bias=bias
        )
        if bias:
            with torch.no_grad():
                self.gates.bias.zero_()
                self.gates.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)  # forget gate

    def initial_state(self, x: Tensor) -> State:
        """Zero ``(h, c)`` matching the batch, size, device and dtype of the frame ``x``."""
        b, _, h, w = x.shape
        zeros = x.new_zeros(b, self.hidden_channels, h, w)
        return zeros, zeros.clone()

    def forward(self, x: Tensor, state: State | None = None) -> State:
        """One step: ``x`` is ``[B, in_channels, H, W]``; returns the new ``(h, c)``."""
        h, c = self.initial_state(x) if state is None else state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM(nn.Module):
    """A stack of ConvLSTM cells; layer ``k`` reads layer ``k - 1``'s hidden state at the same step."""

    def __init__(self, in_channels: int, hidden_channels: int | list[int], num_layers: int = 1, kernel_size: int = 3):
        super().__init__()
        widths = [hidden_channels] * num_layers if isinstance(hidden_channels, int) else list(hidden_channels)
        if not widths:
            raise ValueError("a ConvLSTM needs at least one layer")
        ins = [in_channels] + widths[:-1]
        self.cells = nn.ModuleList(ConvLSTMCell(i, w, kernel_size) for i, w in zip(ins, widths))
        self.out_channels = widths[-1]

    def step(self, x: Tensor, states: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """One frame ``[B, C, H, W]`` through every layer; returns the top layer's ``h`` and all states."""
        states = states if states is not None else [None] * len(self.cells)  # type: ignore[list-item]
        new_states: list[State] = []
        for cell, state in zip(self.cells, states):
            h, c = cell(x, state)
            new_states.append((h, c))
            x = h
        return x, new_states

    def forward(self, clip: Tensor, states: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """Unroll over a clip ``[B, C, T, H, W]``; returns the top layer's ``h`` for every step
        (``[B, hidden, T, H, W]``) and the final states (to continue with ``step`` or another ``forward``)."""
        outputs = []
        for t in range(clip.shape[2]):
            h, states = self.step(clip[:, :, t], states)
            outputs.append(h)
        return torch.stack(outputs, dim=2), states  # type: ignore[return-value]
