"""Convolutional LSTM (Shi et al. 2015): an LSTM whose gates are convolutions, so its state is a feature map.

Both classes can be **stepped one frame at a time** (``step``) as well as unrolled over a whole clip
(``forward``), and both give the same numbers: a generator can feed each output back as the next input,
and a predictor can continue from a saved state. (ndrplz/ConvLSTM_pytorch, the usual reference, only
unrolls a whole sequence.) Tensors follow vidsynth's layout: frames ``[B, C, H, W]``, clips
``[B, C, T, H, W]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (hidden h, cell c), each [B, hidden_channels, H, W]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer for one time step: ``(x_t, (h, c)) -> (h', c')``.

    The four gates come from a single convolution of ``[x_t, h]`` (one kernel for all gates, as in
    Shi et al. without the peephole terms), computed as ``conv(x_t, W_x) + conv(h, W_h)`` with the two
    parts of that one kernel: the same numbers, but the input's part needs no recurrence, so
    ``ConvLSTM.unroll`` / ``forward`` compute it for all steps at once. The forget gate's bias starts at 1
    so that early in training the cell keeps its memory instead of erasing it (Jozefowicz et al. 2015).
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

    def split_weight(self) -> tuple[Tensor, Tensor]:
        """The gate kernel's input part ``W_x`` and hidden part ``W_h`` (views of the one ``gates.weight``):
        ``conv([x, h], W) = conv(x, W_x) + conv(h, W_h)``, so the input part can be computed apart."""
        w = self.gates.weight
        return w[:, : self.in_channels], w[:, self.in_channels :]

    def input_gates(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """The input's share of the gate pre-activations, bias included: ``conv(x, W_x) + b`` for a batch of
        frames ``[N, in_channels, H, W]`` (any number of frames of any steps at once)."""
        weight = self.split_weight()[0] if weight is None else weight
        return F.conv2d(x, weight, self.gates.bias, padding=self.gates.padding)

    def recur(self, input_gates: Tensor, state: State | None, weight: Tensor | None = None) -> State:
        """One step from the input's gate share (``input_gates``): adds the hidden state's share
        ``conv(h, W_h)`` and applies the LSTM equations. With no state (zero ``h`` and ``c``) both zero terms
        are left out rather than computed: the same numbers."""
        if state is None:
            i, _, g, o = input_gates.chunk(4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g)
        else:
            h, c = state
            weight = self.split_weight()[1] if weight is None else weight
            gates = input_gates + F.conv2d(h, weight, None, padding=self.gates.padding)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def forward(self, x: Tensor, state: State | None = None) -> State:
        """One step: ``x`` is ``[B, in_channels, H, W]``; returns the new ``(h, c)``."""
        return self.recur(self.input_gates(x), state)

    def run(
        self, input_gates: Tensor | list[Tensor], steps: int, state: State | None = None
    ) -> tuple[list[Tensor], State]:
        """``steps`` steps of this layer alone from precomputed input gate shares: one tensor (the same input
        at every step) or one per step. Returns every step's ``h`` and the final state."""
        w_h = self.split_weight()[1].contiguous()  # one copy per sequence, not one slice per step
        hs = []
        for t in range(steps):
            state = self.recur(input_gates if isinstance(input_gates, Tensor) else input_gates[t], state, w_h)
            hs.append(state[0])
        return hs, state  # type: ignore[return-value]


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

    def unroll(self, x: Tensor, steps: int, states: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """``steps`` steps on the same input frame ``x`` ``[B, C, H, W]`` (how a generator conditions every
        step on one code map); returns the top layer's ``h`` ``[B, hidden, steps, H, W]`` and the final
        states. The same numbers as calling ``step(x, ...)`` ``steps`` times; the first layer's input share
        of the gates is computed once instead of ``steps`` times."""
        return self._layerwise(self.cells[0].input_gates(x), steps, states)

    def forward(self, clip: Tensor, states: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """Unroll over a clip ``[B, C, T, H, W]``; returns the top layer's ``h`` for every step
        (``[B, hidden, T, H, W]``) and the final states (to continue with ``step`` or another ``forward``)."""
        b, c, t, h, w = clip.shape
        frames = clip.permute(2, 0, 1, 3, 4).reshape(t * b, c, h, w)  # step-major: step s is rows s*B..s*B+B-1
        return self._layerwise(list(self.cells[0].input_gates(frames).split(b)), t, states)

    def _layerwise(
        self, first_gates: Tensor | list[Tensor], steps: int, states: list[State] | None
    ) -> tuple[Tensor, list[State]]:
        """Run the stack one layer at a time over every step (layer k at step t needs only layer k - 1 at
        step t and itself at t - 1, so this order gives the same numbers as stepping): each layer's input
        share of the gates is then one convolution over all steps, and only ``conv(h, W_h)`` stays in the
        loop over time."""
        states = states if states is not None else [None] * len(self.cells)  # type: ignore[list-item]
        final: list[State] = []
        gates: Tensor | list[Tensor] = first_gates
        hs: list[Tensor] = []
        for k, (cell, state) in enumerate(zip(self.cells, states)):
            if k > 0:
                b = hs[0].shape[0]
                gates = list(cell.input_gates(torch.cat(hs, dim=0)).split(b))
            hs, last = cell.run(gates, steps, state)
            final.append(last)
        return torch.stack(hs, dim=2), final
