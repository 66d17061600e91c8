"""Several built-in datasets trained on as one: ``builtin:A+builtin:B?options`` (``vidsynth.data.mixed``)."""

from __future__ import annotations

import pytest
import torch

from vidsynth.data import open_clips, resolve_source
from vidsynth.errors import VidsynthError

BALLS = "builtin:bouncing-balls?train_clips=5&test_clips=2&balls=2"
MOVES = "builtin:camera-motion?train_clips=3&test_clips=1"


def test_a_mix_holds_every_part_s_clips_in_order():
    alone = [open_clips(s, frames=4, size=16) for s in (BALLS, MOVES)]
    mixed = open_clips(f"{BALLS}+{MOVES}", frames=4, size=16)
    assert len(mixed) == 8
    assert torch.equal(mixed[0], alone[0][0]) and torch.equal(mixed[4], alone[0][4])
    assert torch.equal(mixed[5], alone[1][0]) and torch.equal(mixed[7], alone[1][2])
    assert torch.equal(mixed[-1], alone[1][2])


def test_each_part_keeps_its_own_options_and_the_split_applies_to_all():
    test = open_clips(f"{BALLS}+{MOVES}", frames=4, size=16, split="test")
    assert len(test) == 3
    described = test.describe()
    assert described["clips"] == 3 and len(described["parts"]) == 2


def test_a_mix_is_a_builtin_source_with_its_parts():
    resolved = resolve_source(f"{BALLS}+{MOVES}")
    assert resolved.kind == "builtin" and resolved.parts == [BALLS, MOVES]


def test_an_unknown_part_is_a_one_line_error():
    with pytest.raises(VidsynthError, match="no-such-thing"):
        open_clips(f"{BALLS}+builtin:no-such-thing", frames=4, size=16)
    with pytest.raises(VidsynthError, match="names no dataset"):
        resolve_source(f"{BALLS}+builtin:")


def test_an_unknown_part_stops_the_mix_before_any_part_is_opened(monkeypatch):
    from vidsynth.data import bouncing_balls

    monkeypatch.setattr(bouncing_balls.BouncingBalls, "__init__", lambda *a, **k: pytest.fail("a part was opened"))
    with pytest.raises(VidsynthError, match="no-such-thing"):
        open_clips(f"{BALLS}+builtin:no-such-thing", frames=4, size=16)


def test_past_the_end_is_an_index_error():
    mixed = open_clips(f"{BALLS}+{MOVES}", frames=4, size=16)
    with pytest.raises(IndexError):
        mixed[8]
