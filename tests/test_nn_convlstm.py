"""vidsynth.nn.convlstm: a ConvLSTM stepped frame by frame equals the same ConvLSTM unrolled over the clip."""

from __future__ import annotations

import pytest
import torch

from vidsynth.nn.convlstm import ConvLSTM, ConvLSTMCell


@pytest.fixture
def lstm():
    torch.manual_seed(0)
    return ConvLSTM(in_channels=3, hidden_channels=[4, 5], kernel_size=3)


def test_unrolled_output_has_the_top_layers_width_for_every_frame(lstm):
    out, states = lstm(torch.randn(2, 3, 6, 8, 8))
    assert out.shape == (2, 5, 6, 8, 8)
    assert [tuple(h.shape) for h, _ in states] == [(2, 4, 8, 8), (2, 5, 8, 8)]


def test_stepping_one_frame_at_a_time_equals_unrolling(lstm):
    clip = torch.randn(2, 3, 5, 8, 8)
    unrolled, final = lstm(clip)
    states = None
    for t in range(clip.shape[2]):
        h, states = lstm.step(clip[:, :, t], states)
        assert torch.allclose(h, unrolled[:, :, t], atol=1e-6)
    for (h1, c1), (h2, c2) in zip(states, final):
        assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)


def test_a_clip_continued_from_saved_states_equals_the_whole_clip(lstm):
    clip = torch.randn(1, 3, 6, 8, 8)
    whole, _ = lstm(clip)
    first, states = lstm(clip[:, :, :4])
    rest, _ = lstm(clip[:, :, 4:], states)
    assert torch.allclose(torch.cat([first, rest], dim=2), whole, atol=1e-6)


def test_cell_matches_the_lstm_equations():
    torch.manual_seed(1)
    cell = ConvLSTMCell(2, 3, kernel_size=1)
    x, h, c = torch.randn(1, 2, 2, 2), torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    gates = cell.gates(torch.cat([x, h], dim=1))
    i, f, g, o = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    got_h, got_c = cell(x, (h, c))
    assert torch.allclose(got_c, c_new) and torch.allclose(got_h, h_new)


def test_forget_gate_bias_starts_at_one_and_even_kernels_are_refused():
    cell = ConvLSTMCell(2, 3)
    assert torch.equal(cell.gates.bias[3:6], torch.ones(3))
    assert torch.equal(cell.gates.bias[:3], torch.zeros(3))
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(2, 3, kernel_size=4)


def test_gradients_reach_every_layer_through_time(lstm):
    out, _ = lstm(torch.randn(1, 3, 4, 6, 6))
    out[:, :, -1].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lstm.parameters())


def plain_unroll(lstm, inputs):
    """The textbook ConvLSTM, stepped frame by frame: zero initial state, one convolution of ``[x, h]``."""
    states = [None] * len(lstm.cells)
    outs = []
    for x in inputs:
        for k, cell in enumerate(lstm.cells):
            b, _, hh, ww = x.shape
            h, c = states[k] or (x.new_zeros(b, cell.hidden_channels, hh, ww),) * 2
            i, f, g, o = cell.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states[k] = (h, c)
            x = h
        outs.append(x)
    return torch.stack(outs, dim=2), states


def gradients(lstm, x, out):
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(5))
    return torch.autograd.grad((out * weights).sum(), [x, *lstm.parameters()])


def test_unrolling_on_one_input_map_equals_the_textbook_recurrence_in_values_and_gradients(lstm):
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    fast, fast_states = lstm.unroll(x, 4)
    plain, plain_states = plain_unroll(lstm, [x] * 4)
    assert torch.allclose(fast, plain, atol=1e-5)
    for (h1, c1), (h2, c2) in zip(fast_states, plain_states):
        assert torch.allclose(h1, h2, atol=1e-5) and torch.allclose(c1, c2, atol=1e-5)
    for a, b in zip(gradients(lstm, x, fast), gradients(lstm, x, plain)):
        assert torch.allclose(a, b, atol=1e-5)


def test_unrolling_a_clip_equals_the_textbook_recurrence_in_values_and_gradients(lstm):
    clip = torch.randn(2, 3, 5, 6, 6, requires_grad=True)
    fast, _ = lstm(clip)
    plain, _ = plain_unroll(lstm, clip.unbind(2))
    assert torch.allclose(fast, plain, atol=1e-5)
    for a, b in zip(gradients(lstm, clip, fast), gradients(lstm, clip, plain)):
        assert torch.allclose(a, b, atol=1e-5)


def test_the_parameters_keep_their_names_and_shapes(lstm):
    # checkpoints written before the gate convolution was split into an input and a hidden part still load
    assert {k: tuple(v.shape) for k, v in lstm.state_dict().items()} == {
        "cells.0.gates.weight": (16, 7, 3, 3), "cells.0.gates.bias": (16,),
        "cells.1.gates.weight": (20, 9, 3, 3), "cells.1.gates.bias": (20,),
    }
