"""manifold-traverse (``paper`` preset) against the authors' code, belaalb/frameGAN (``bouncing_balls/``).

Phase 1: their ``frames_generator/model.py`` ``Generator`` and 48 ``Discriminator`` modules (each with its
own optimiser, as their ``train.py`` builds them), one step as their ``frames_generator/train_loop.py``
``TrainLoop.train_step`` in ``vanilla`` mode runs it: every critic updated on real and generated frames in
turn, then G_F on the sum of the 48 BCE losses. Phase 2: their ``models_zoo.py`` ``Generator_linear``,
``frames_generator`` (frozen in eval mode) and 16 video ``Discriminator`` modules, one step as
``train_loop.py`` ``TrainLoop.train_step`` with ``hyper=False`` (their ``--average-mode``: the plain sum of
the BCE losses, which is vidsynth's loss). Both at vidsynth's paper shapes: 64 frames of 30x30 per phase-1
step, 8 clips of 30 frames per phase-2 step, RMSprop at the paper's rates (vidsynth's ``paper`` preset);
their ``Discriminator`` takes the optimiser class, and phase 1's is called with Adam's ``betas``, so the
adapter hands it RMSprop through a small wrapper that drops them.

Only the adapter is here: the reference's modules and ``TrainLoop`` are imported from the checkout by path.
Their loops import ``tqdm`` (only to wrap the epoch loop, which is not timed); where it is not installed the
adapter registers a stand-in module, and ``cuda=False`` keeps everything on the CPU.

``FRAMEGAN_CRITICS=K,K'`` in the environment (e.g. ``8,3``) scales both sides down to K frame and K' video
critics for a quick look on a small machine (the paper's 48 and 16 otherwise; the tables in
benchmarks/RESULTS.md say which was measured).

Parameter counts: phase 1 is equal on both sides (G_F + 48 critics; the critics' fixed projections are
buffers in vidsynth and ``weight_norm`` parameters left out of the optimisers in theirs, so their count
is given without them). Phase 2 counts G_V + the 16 critics (the frozen G_F is excluded on both sides) and
differs: their ``Generator_linear`` has a 256-unit bi-LSTM and a single Linear(512, 100) head, vidsynth's
G_V follows the paper (128 units per direction, then FC 512 -> 100); G_V is < 2% of the step's parameters.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

from peers import Peer, vidsynth_step

REPOSITORY = "belaalb/frameGAN"
COMMIT = "8a58ddcc4a7f24f145e8dd1ab9ef37ea9cf64712"


def _load(path: Path, name: str) -> types.ModuleType:
    """Import one file of the checkout under a private module name (theirs are generic: ``model``, ...)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import_reference(folder: Path, files: dict[str, str]) -> dict[str, types.ModuleType]:
    if "tqdm" not in sys.modules and importlib.util.find_spec("tqdm") is None:  # imported by their loops, used only around the epoch loop
        stand_in = types.ModuleType("tqdm")
        stand_in.tqdm = lambda iterable, *a, **k: iterable  # type: ignore[attr-defined]
        sys.modules["tqdm"] = stand_in
    sys.path.insert(0, str(folder))  # their loops import their helpers (MGD_utils) by bare name
    try:
        return {key: _load(folder / file, f"frameGAN_{key}") for key, file in files.items()}
    finally:
        sys.path.remove(str(folder))


def _critics() -> dict[str, int]:
    """vidsynth overrides for ``FRAMEGAN_CRITICS=K,K'`` (none when unset: the paper's counts)."""
    value = os.environ.get("FRAMEGAN_CRITICS", "")
    if not value:
        return {}
    frames, video = (int(v) for v in value.split(","))
    return {"frame_critics": frames, "video_critics": video}


def _trainable(modules: list[Any], skip: str = "projection.") -> int:
    return sum(p.numel() for m in modules for n, p in m.named_parameters() if not n.startswith(skip))


def _rmsprop(params: Any, lr: float, betas: Any = None) -> Any:
    import torch

    return torch.optim.RMSprop(params, lr=lr)


def build_phase1(path: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    assert path is not None
    ours, info = vidsynth_step("manifold-traverse", "paper", _critics(), start_step=0)
    cfg = info["config"]
    ref = _import_reference(path / "bouncing_balls" / "frames_generator",
                            {"frames_model": "model.py", "frames_loop": "train_loop.py"})
    model, loop = ref["frames_model"], ref["frames_loop"]
    generator = model.Generator().train()
    critics = [model.Discriminator(_rmsprop, cfg.lr, None).train() for _ in range(cfg.frame_critics)]
    optimizer = torch.optim.RMSprop(generator.parameters(), lr=cfg.lr)
    trainer = loop.TrainLoop(generator, critics, optimizer, train_loader=None, train_mode="vanilla", cuda=False)
    frames = torch.rand(cfg.frame_batch, cfg.channels, cfg.size, cfg.size) * 2 - 1

    def reference() -> None:
        trainer.train_step(frames)

    ref_params = _trainable([generator, *critics])
    shape = (f"{cfg.frame_critics} critics {'-'.join(map(str, cfg.frame_critic_widths))} + G_F, "
             f"{cfg.frame_batch} frames of {cfg.size}x{cfg.size}")
    return reference, ours, {"ref_params": ref_params, "ours_params": info["ours_params"] - _video_side(cfg),
                             "shape": shape}


def build_phase2(path: Path | None) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    assert path is not None
    from vidsynth.plugins import get_registry

    frame_steps = get_registry().model("manifold-traverse").make_config("paper", {}).frame_steps
    ours, info = vidsynth_step("manifold-traverse", "paper", _critics(), start_step=frame_steps)
    cfg = info["config"]
    ref = _import_reference(path / "bouncing_balls", {"zoo": "models_zoo.py", "video_loop": "train_loop.py"})
    zoo, loop = ref["zoo"], ref["video_loop"]
    generator = zoo.Generator_linear(False)
    frames_generator = zoo.frames_generator().eval()
    critics = [zoo.Discriminator(torch.optim.RMSprop, "rmsprop", cfg.lr_video, (0.5, 0.999)).train()
               for _ in range(cfg.video_critics)]
    optimizer = torch.optim.RMSprop(generator.parameters(), lr=cfg.lr_video)
    trainer = loop.TrainLoop(generator, frames_generator, critics, optimizer, train_loader=None, hyper=False,
                             cuda=False)
    clips = torch.rand(cfg.batch_size, cfg.channels, cfg.frames, cfg.size, cfg.size) * 2 - 1

    def reference() -> None:
        trainer.train_step(clips)

    ref_params = _trainable([generator, *critics])
    shape = (f"{cfg.video_critics} critics {'-'.join(map(str, cfg.video_critic_widths))} + G_V, "
             f"{cfg.batch_size} clips of {cfg.frames}x{cfg.size}x{cfg.size}")
    return reference, ours, {"ref_params": ref_params, "ours_params": info["ours_params"] - _frame_side(cfg),
                             "shape": shape}


def _modules(cfg: Any) -> dict[str, Any]:
    """vidsynth's modules built on the meta device: shapes only, no memory."""
    import torch

    from vidsynth.plugins import get_registry

    with torch.device("meta"):
        return get_registry().model("manifold-traverse").build(cfg)


def _video_side(cfg: Any) -> int:
    """Parameters of G_V and the video critics (idle in phase 1, not counted there)."""
    m = _modules(cfg)
    return sum(p.numel() for k in ("video_generator", "video_critics") for p in m[k].parameters())


def _frame_side(cfg: Any) -> int:
    """Parameters of G_F (frozen in phase 2) and the frame critics (idle in phase 2)."""
    m = _modules(cfg)
    return sum(p.numel() for k in ("frame_generator", "frame_critics") for p in m[k].parameters())


PEERS = [
    Peer("manifold-traverse phase 1 (48 critics + G_F)", "frameGAN", REPOSITORY, COMMIT, build_phase1,
         "frames_generator/model.py + train_loop.py, vanilla mode, RMSprop"),
    Peer("manifold-traverse phase 2 (16 critics + G_V)", "frameGAN", REPOSITORY, COMMIT, build_phase2,
         "models_zoo.py Generator_linear + train_loop.py, average mode, RMSprop"),
]
