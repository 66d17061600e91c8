"""The runtime: device and precision resolution, seeding, threads, autocast, and the single-process defaults."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from vidsynth.errors import VidsynthError
from vidsynth.runtime import Runtime, resolve_device, resolve_precision


@pytest.fixture(autouse=True)
def _keep_torch_threads(monkeypatch):
    previous = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(previous)


def test_cpu_is_always_available():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_auto_falls_back_to_the_cpu_and_cuda_without_a_gpu_is_a_clear_error():
    if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(VidsynthError, match="no CUDA GPU; use --device cpu"):
        resolve_device("cuda:0")


def test_an_unknown_device_lists_the_choices():
    with pytest.raises(VidsynthError, match=r"unknown device 'tpu'; use one of: auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")


def test_precision_is_fp32_on_the_cpu_unless_asked():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(VidsynthError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(VidsynthError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", cpu)


def test_the_same_seed_gives_the_same_random_numbers_everywhere():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3).tolist()

    with Runtime(device="cpu", seed=7):
        first = draw()
    with Runtime(device="cpu", seed=7):
        assert draw() == first
    with Runtime(device="cpu", seed=8):
        assert draw() != first


def test_an_explicit_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with Runtime(device="cpu"):
        assert torch.get_num_threads() == 1


def test_autocast_is_a_no_op_in_fp32_and_casts_in_bf16():
    x = torch.randn(4, 4)
    with Runtime(device="cpu", precision="fp32") as rt, rt.autocast():
        assert (x @ x).dtype == torch.float32
    with Runtime(device="cpu", precision="bf16") as rt, rt.autocast():
        assert (x @ x).dtype == torch.bfloat16
    assert Runtime(device="cpu").make_scaler() is None


def test_one_process_is_the_main_one_and_modules_are_not_wrapped():
    with Runtime(device="cpu") as rt:
        module = torch.nn.Linear(2, 2)
        assert rt.is_main and rt.world_size == 1 and not rt.distributed
        assert rt.wrap(rt.to_device(module)) is module
        assert rt.all_reduce_max([1.0, 0.0]) == [1.0, 0.0]
        assert rt.all_gather_object("x") == ["x"]


def test_fork_rng_leaves_the_global_random_state_untouched():
    with Runtime(device="cpu", seed=1) as rt:
        state = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
        with rt.fork_rng():
            random.random(), np.random.rand(), torch.rand(5)
        assert random.getstate() == state[0]
        assert np.array_equal(np.random.get_state()[1], state[1])
        assert torch.equal(torch.get_rng_state(), state[2])


def test_deterministic_mode_turns_on_deterministic_algorithms():
    try:
        with Runtime(device="cpu", deterministic=True):
            assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
