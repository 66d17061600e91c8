"""The eval engine: run a model on held-out clips the way its task needs, beside its baselines, and measure.

``evaluate(generate_fn, clips, task=..., ...)`` streams the test clips in batches, so memory stays flat
however many clips are evaluated:

1. Each clip is cut to the evaluated length (the whole clip; for ``next-frame`` the context plus the
   horizon) and turned into the condition the task takes: the keyframes (``plugin.condition_from``), the
   first frame, the first ``k`` frames (next-frame), or nothing (unconditional).
2. The model generates one video per condition (``generate_fn``), and every baseline of the task makes
   its own from the same condition. The model's video is expected to cover the whole evaluated length,
   given frames included (they are not scored).
3. Every applicable ``Metric`` is computed on the frames the model had to produce (``Plan.scored``;
   ``frames="all"`` metrics on the whole video), per clip, plus per-frame curves.
4. Distribution metrics (FVD with ``detector``, FID with ``inception``) compare the outputs on the odd
   clips with the real even clips, and report real odd vs real even as the floor, so all three sets have
   the same size (Fréchet distances are biased by the set size).

For unconditional models the clips split the same way: the even clips are the reference, and the model
(one sample per odd clip), the odd real clips (the floor), the odd clips with shuffled frames and with
their first frame held (``still``) are compared with it. Statistics of conditional models also see the
real clips with shuffled frames (``statistics_only``: no ground truth, not in the comparison video).

The result is a plain dict (``report.json``); ``vidsynth.metrics.report`` renders and writes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vidsynth import __version__
from vidsynth.errors import VidsynthError
from vidsynth.metrics import stats
from vidsynth.metrics.baselines import (
    FLOW_INSTALL, Baseline, baselines_for, describe_unconditional_baselines, shuffle_frames,
)
from vidsynth.metrics.metric import Metric
from vidsynth.metrics.options import EvalOptions, check_samples
from vidsynth.tensors import clips_to_model, to_unit

#: generate_fn(condition [B, C, K, H, W] in [-1, 1] or None, n, seed, frames) -> [n, C, frames, H, W] in [-1, 1]
GenerateFn = Callable[[torch.Tensor | None, int, int, int], torch.Tensor]

MODEL = "model"
REAL = "real"
SHUFFLED = "shuffled"
STILL = "still"


@dataclass(frozen=True)
class Plan:
    """Which frames a task gives the model and which it must produce, for clips of ``frames`` frames."""

    task: str
    frames: int  # evaluated length T
    given: tuple[int, ...]  # frame indices in the condition
    scored: tuple[int, ...]  # frames the model produced: what the metrics score (every frame not given)

    def horizon(self, t: int) -> int:
        """Frames between frame ``t`` and the nearest given frame (1 = next to a given frame)."""
        return min(abs(t - g) for g in self.given) if self.given else 0

    @property
    def horizons(self) -> dict[int, list[int]]:
        """For first/next-frame tasks: horizon h -> the scored frames at that horizon (both sides of a
        given frame in the middle of the clip), h = 1, 2, ... in order."""
        out: dict[int, list[int]] = {}
        for t in self.scored:
            out.setdefault(self.horizon(t), []).append(t)
        return dict(sorted(out.items()))

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "frames": self.frames,
            "given_frames": list(self.given),
            "scored_frames": list(self.scored),
        }


def make_plan(task: str, clip_frames: int, condition_frames: int, context: int | None = None,
              horizon: int | None = None, given: Sequence[int] | None = None) -> Plan:
    """The evaluation plan of ``task`` on clips of ``clip_frames`` frames.

    ``condition_frames`` is how many frames the plugin's condition holds (``condition_from``);
    ``context`` overrides it for next-frame models, and ``horizon`` limits how many frames after the
    context are generated and scored (default: the rest of the clip). ``given`` is where a first-frame
    model's condition sits when not at frame 0 (``ModelPlugin.given_frames``, e.g. the middle frame).
    """
    if (context is not None or horizon is not None) and task != "next-frame":
        raise VidsynthError(f"--context and --horizon apply to next-frame models; this one is {task}")

    def plan(frames: int, known: Sequence[int]) -> Plan:
        known = tuple(sorted(set(known)))
        return Plan(task, frames, known, tuple(t for t in range(frames) if t not in known))

    if task == "unconditional":
        return plan(clip_frames, ())
    if task == "keyframes":
        if clip_frames < 3:
            raise VidsynthError(f"keyframe evaluation needs clips of at least 3 frames, got {clip_frames}")
        return plan(clip_frames, (0, clip_frames - 1))
    if task == "first-frame":
        if clip_frames < 2:
            raise VidsynthError(f"first-frame evaluation needs clips of at least 2 frames, got {clip_frames}")
        known = tuple(given) if given else (0,)
        if len(known) != 1 or not 0 <= known[0] < clip_frames:
            raise VidsynthError(f"a first-frame model gives one frame inside the clip, not frames {list(known)}")
        return plan(clip_frames, known)
    if task == "next-frame":
        k = context if context is not None else condition_frames
        if k < 1:
            raise VidsynthError(f"--context must be at least 1 frame, got {k}")
        h = horizon if horizon is not None else clip_frames - k
        if h < 1:
            raise VidsynthError(f"--horizon must be at least 1 frame, got {h}")
        if k + h > clip_frames:
            raise VidsynthError(
                f"context {k} + horizon {h} frames is longer than the test clips ({clip_frames} frames); "
                f"use --horizon {clip_frames - k} or less"
            )
        return plan(k + h, range(k))
    raise VidsynthError(f"unknown task {task!r}")


def available_metrics() -> dict[str, Metric]:
    """Every registered metric: the built-ins (always) and those of installed metric plugins."""
    from vidsynth.metrics.builtin import BUILTIN_METRICS
    from vidsynth.plugins import get_registry

    found = {m.name: m for m in BUILTIN_METRICS}
    for name, metric in get_registry().metrics.items():
        if isinstance(metric, Metric):
            found.setdefault(name, metric)
    return found


def select_metrics(all_metrics: dict[str, Metric], task: str, source: str,
                   names: Sequence[str] | None) -> list[Metric]:
    """The metrics an eval computes: every one that applies, or the ones named (checked)."""
    if not names:
        return [m for m in all_metrics.values() if m.applies(task, source)]
    unknown = [n for n in names if n not in all_metrics]
    if unknown:
        raise VidsynthError(f"unknown metric {unknown[0]!r}; available: {', '.join(sorted(all_metrics))}")
    chosen = [all_metrics[n] for n in names]
    for m in chosen:
        if task not in m.tasks or (m.kind == "paired" and task == "unconditional"):
            raise VidsynthError(f"metric {m.name!r} does not apply to {task} models (it applies to: {', '.join(m.tasks)})")
    return chosen


def pick_clips(total: int, n: int | None, seed: int) -> list[int]:
    """``n`` clip indices drawn without replacement by ``seed`` (all clips when n is None), sorted."""
    if total < 1:
        raise VidsynthError("the test split has no clips")
    if n is None or n >= total:
        return list(range(total))
    if n < 2:
        raise VidsynthError(f"-n must be at least 2 (statistics need two clips), got {n}")
    g = torch.Generator().manual_seed(int(seed))
    return sorted(torch.randperm(total, generator=g)[:n].tolist())


@dataclass
class _Tally:
    """Per-clip values and per-frame sums of every metric and system, filled batch by batch."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    curve_sum: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    curve_n: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, metric: str, system: str, per_clip: torch.Tensor, per_frame: torch.Tensor | None) -> None:
        self.values.setdefault(metric, {}).setdefault(system, []).extend(per_clip.double().cpu().tolist())
        if per_frame is not None:
            pf = per_frame.double().cpu().numpy()
            finite = np.isfinite(pf)
            sums = self.curve_sum.setdefault(metric, {}).setdefault(system, np.zeros(pf.shape[1]))
            counts = self.curve_n.setdefault(metric, {}).setdefault(system, np.zeros(pf.shape[1]))
            sums += np.where(finite, pf, 0).sum(axis=0)
            counts += finite.sum(axis=0)

    def curve(self, metric: str, system: str) -> list[float | None]:
        sums, counts = self.curve_sum[metric][system], self.curve_n[metric][system]
        return [float(s / c) if c else None for s, c in zip(sums, counts)]


def _score_metric(metric: Metric, plan: Plan, video: torch.Tensor, real: torch.Tensor | None,
                  data: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One metric on a batch (both in [0, 1]): per-clip values ``[B]`` and, if per-frame, ``[B, T]``."""
    def call(v: torch.Tensor, r: torch.Tensor | None) -> Any:
        return metric.fn(v, r, data if data is not None else {}) if metric.uses_data else metric.fn(v, r)

    if metric.per_frame:
        per_frame = torch.as_tensor(call(video, real)).float()
        if per_frame.shape != video.shape[:1] + video.shape[2:3]:
            raise VidsynthError(f"returned shape {tuple(per_frame.shape)}, expected per-frame [B, T] = "
                                f"{[video.shape[0], video.shape[2]]}")
        chosen = per_frame if metric.frames == "all" else per_frame[:, list(plan.scored)]
        return torch.nanmean(chosen, dim=1), per_frame
    if metric.frames == "generated":
        video = video[:, :, list(plan.scored)]
        real = real[:, :, list(plan.scored)] if real is not None else None
    per_clip = torch.as_tensor(call(video, real)).float().reshape(-1)
    if per_clip.shape[0] != video.shape[0]:
        raise VidsynthError(f"returned {per_clip.shape[0]} values for {video.shape[0]} videos")
    return per_clip, None


@dataclass
class _Run:
    """Everything one evaluation decides up front and fills in as it goes, passed between the stages."""

    plan: Plan
    options: EvalOptions
    device: torch.device
    indices: list[int]
    conditional: bool
    baselines: list[Baseline]
    systems: list[str]  # the model, then what it is compared with (every metric, the video)
    statistics_only: tuple[str, ...]  # compared with by the statistics only (no ground truth, not in the video)
    metrics: Sequence[Metric]
    data: dict[str, Any]  # what data-aware metrics get: the source's description and reference clips
    clip_frames: int
    source: str
    detectors: dict[str, Any] = field(default_factory=dict)
    banks: dict[str, Any] = field(default_factory=dict)
    tally: _Tally = field(default_factory=_Tally)
    shown: dict[str, list[np.ndarray]] = field(default_factory=dict)
    shuffle_gen: torch.Generator | None = None

    @property
    def paired(self) -> list[Metric]:
        return [m for m in self.metrics if m.kind == "paired"]

    @property
    def statistics(self) -> list[Metric]:
        return [m for m in self.metrics if m.kind == "statistic"]

    @property
    def reference_name(self) -> str:
        """The row of statistics on real clips: the ground truth (conditional) or the reference half."""
        return REAL if self.conditional else "reference"


@dataclass
class _Batch:
    """One batch of test clips: the real clips in the model range and where they sit in the eval order."""

    number: int
    real: torch.Tensor  # [B, C, T, H, W] in [-1, 1], cut to the evaluated length
    even: torch.Tensor  # bool [B]: clips at even positions (the reference half of distribution metrics)
    odd: torch.Tensor

    @property
    def size(self) -> int:
        return self.real.shape[0]


def evaluate(
    generate_fn: GenerateFn,
    clips: Any,
    *,
    task: str,
    condition_fn: Callable[[torch.Tensor], torch.Tensor | None],
    given_fn: Callable[[int], Sequence[int] | None] | None = None,
    metrics: Sequence[Metric],
    options: EvalOptions,
    device: torch.device | str = "cpu",
    source: str = "",
    progress: Callable[[int, int], None] | None = None,
    keep_videos: bool = True,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Evaluate a model (``generate_fn``) on ``clips`` (a dataset of uint8 ``[T, H, W, C]`` clips).

    ``condition_fn(video)`` gives the plugin's condition of a batch ``[B, C, T, H, W]`` in [-1, 1]
    (``plugin.condition_from``); ``given_fn(frames)`` where those frames sit in the clip, when not where
    the task puts them (``plugin.given_frames``). Returns the report dict and, for the comparison video, uint8 clips
    ``[N, T, H, W, C]`` per system (the first ``options.videos`` clips).

    The stages: ``_plan_run`` (clips, plan, baselines, detectors), ``_collect_references`` (what
    data-aware metrics compare with), then per batch ``_generate`` (model and baselines) and ``_score``
    (metrics and detector features), and ``_assemble`` (the report).
    """
    started = time.time()
    run = _plan_run(clips, task, condition_fn, given_fn, metrics, options, torch.device(device), source)
    _collect_references(run, clips)
    done = 0
    for batch in _batches(run, clips):
        outputs, reference = _generate(run, batch, generate_fn, condition_fn)
        _score(run, batch, outputs, reference)
        if keep_videos:
            shown = {k: v for k, v in outputs.items() if k not in run.statistics_only}
            _keep(run.shown, shown, batch.real if run.conditional else reference, options.videos, run.conditional)
        done += batch.size
        if progress is not None:
            progress(done, len(run.indices))
    report = _assemble(run, time.time() - started)
    videos = {name: np.concatenate(chunks)[: options.videos] for name, chunks in run.shown.items()}
    return report, videos


def _plan_run(clips: Any, task: str, condition_fn: Callable[[torch.Tensor], torch.Tensor | None],
              given_fn: Callable[[int], Sequence[int] | None] | None, metrics: Sequence[Metric],
              options: EvalOptions, device: torch.device, source: str) -> _Run:
    """Check the options and decide the clips, the plan, the baselines and the detectors."""
    from vidsynth.metrics import frechet

    indices = pick_clips(len(clips), options.n, options.seed)
    if options.batch_size < 1:
        raise VidsynthError(f"--batch-size must be at least 1, got {options.batch_size}")
    first = clips_to_model(torch.as_tensor(clips[indices[0]]))
    clip_frames = first.shape[2]
    condition = condition_fn(first)
    plan = make_plan(task, clip_frames, 0 if condition is None else condition.shape[2], options.context, options.horizon,
                     given_fn(clip_frames) if given_fn is not None and task == "first-frame" else None)
    conditional = task != "unconditional"
    check_samples(options.samples, options.mean, conditional)
    if not conditional and len(indices) < 4:
        raise VidsynthError("unconditional evaluation needs at least 4 test clips (half reference, half compared)")

    baselines = baselines_for(task, options.penington_interpolation, options.flow) if conditional else []
    # statistics (motion, appearance, balls) also describe real clips with shuffled frames (right frames,
    # no motion) and a held still frame (right frame, no motion); for conditional models the copy
    # baselines are the still frame
    extra = (SHUFFLED,) if conditional and any(m.kind == "statistic" for m in metrics) else ()
    systems = [MODEL] + [b.name for b in baselines] if conditional else [MODEL, REAL, SHUFFLED, STILL]
    run = _Run(plan=plan, options=options, device=device, indices=indices, conditional=conditional,
               baselines=baselines, systems=systems, statistics_only=extra, metrics=metrics,
               data={"description": describe_source(clips)},
               clip_frames=clip_frames, source=source, shuffle_gen=torch.Generator().manual_seed(options.seed + 1))
    if options.detector is not None:
        run.detectors["fvd"] = frechet.load_detector(options.detector, device, "fvd")
    if options.inception is not None:
        run.detectors["fid"] = frechet.load_detector(options.inception, device, "fid")
    run.banks = {name: frechet.FeatureBank() for name in run.detectors}
    return run


def describe_source(clips: Any) -> dict[str, Any]:
    """The data source's own description (``ClipSource.describe()``), or {} when it has none."""
    describe = getattr(clips, "describe", None)
    try:
        return dict(describe()) if callable(describe) else {}
    except Exception:  # noqa: BLE001 - a description is nice to have, never a reason to fail
        return {}


def _collect_references(run: _Run, clips: Any) -> None:
    """The real clips data-aware metrics compare with: the first batch of evaluated clips, in [0, 1]."""
    if not any(m.uses_data for m in run.metrics):
        return
    first = run.indices[: run.options.batch_size]
    real = clips_to_model(torch.stack([torch.as_tensor(clips[i]) for i in first]), run.device)
    run.data["reference"] = to_unit(real[:, :, : run.plan.frames])


def _batches(run: _Run, clips: Any):
    """The evaluated clips, ``options.batch_size`` at a time, as ``_Batch`` records."""
    size = run.options.batch_size
    for number, start in enumerate(range(0, len(run.indices), size)):
        batch_idx = run.indices[start : start + size]
        uint8 = torch.stack([torch.as_tensor(clips[i]) for i in batch_idx])
        real = clips_to_model(uint8, run.device)[:, :, : run.plan.frames]
        positions = torch.arange(start, start + len(batch_idx))
        yield _Batch(number, real, positions % 2 == 0, positions % 2 == 1)


def _generate(run: _Run, batch: _Batch, generate_fn: GenerateFn,
              condition_fn: Callable[[torch.Tensor], torch.Tensor | None]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The videos of every system for one batch (model range), and the real clips statistics describe."""
    plan, options, real = run.plan, run.options, batch.real
    seed = options.seed + batch.number
    outputs: dict[str, torch.Tensor] = {}
    if run.conditional:
        # next-frame: the first k frames of the clip, whatever the plugin's own condition_from picks
        cond = real[:, :, : len(plan.given)] if plan.task == "next-frame" else condition_fn(real)
        outputs[MODEL] = _model_output(generate_fn, cond, batch.size, seed, plan, run.device, options.samples)
        for b in run.baselines:
            outputs[b.name] = b.fn(cond, plan.frames).to(run.device).clamp(-1, 1)
        if SHUFFLED in run.statistics_only:
            outputs[SHUFFLED] = shuffle_frames(real, run.shuffle_gen)
        return outputs, real  # statistics of the ground truth: every clip
    n_odd = int(batch.odd.sum())
    reference = real[batch.even.to(run.device)]
    compared = real[batch.odd.to(run.device)]
    if n_odd:
        outputs[MODEL] = _model_output(generate_fn, None, n_odd, seed, plan, run.device)
        outputs[REAL] = compared
        outputs[SHUFFLED] = shuffle_frames(compared, run.shuffle_gen)
        outputs[STILL] = compared[:, :, :1].expand_as(compared)
    return outputs, reference


def _score(run: _Run, batch: _Batch, outputs: dict[str, torch.Tensor], reference: torch.Tensor) -> None:
    """Every metric on every system of one batch, and the detector features of distribution metrics."""
    real_unit = to_unit(batch.real)
    units = {name: to_unit(v) for name, v in outputs.items()}
    for m in run.paired:
        for name, video in units.items():
            if name not in run.statistics_only:
                _safe(run, m, name, video, real_unit)
    reference_unit = to_unit(reference)
    for m in run.statistics:
        if reference.shape[0]:
            _safe(run, m, run.reference_name, reference_unit, None)
        for name, video in units.items():
            _safe(run, m, name, video, None)
    _add_features(run, batch, {k: v for k, v in outputs.items() if k not in run.statistics_only}, reference)


def _add_features(run: _Run, batch: _Batch, outputs: dict[str, torch.Tensor], reference: torch.Tensor) -> None:
    """Detector features for FVD / FID: outputs on the odd clips, the real even clips as the reference."""
    from vidsynth.metrics import frechet

    for kind, detector in run.detectors.items():
        def feats(v: torch.Tensor) -> np.ndarray:
            unit = to_unit(v)
            if kind == "fvd":
                return frechet.i3d_features(detector, unit, run.options.fvd_frames)
            return frechet.inception_features(detector, unit)

        bank = run.banks[kind]
        ref = batch.real[batch.even.to(run.device)] if run.conditional else reference
        if ref.shape[0]:
            bank.add("reference", feats(ref))
        if run.conditional:
            sel = batch.odd.to(run.device)
            if sel.any():
                bank.add(REAL, feats(batch.real[sel]))
                for name, video in outputs.items():
                    bank.add(name, feats(video[sel]))
        else:
            for name, video in outputs.items():
                bank.add(name, feats(video))


def _mean_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


#: seed offset between the samples averaged for one batch (``--samples``): sample j of batch i uses
#: seed + i + j * SAMPLE_SEED_STRIDE, so sample 0 is the single-sample output and no two draws share a seed
SAMPLE_SEED_STRIDE = 1_000_003


def _model_output(generate_fn: GenerateFn, cond: torch.Tensor | None, n: int, seed: int, plan: Plan,
                  device: torch.device, samples: int = 1) -> torch.Tensor:
    """The model's video per condition, or with ``samples`` > 1 the pixel mean of that many samples (an
    estimate of the conditional mean: the best guess under squared error when the model is calibrated)."""
    total = None
    for j in range(samples):
        video = generate_fn(cond, n, seed + j * SAMPLE_SEED_STRIDE, plan.frames)
        if tuple(video.shape[:1]) + tuple(video.shape[2:3]) != (n, plan.frames):
            raise VidsynthError(f"the model returned {list(video.shape)}; eval needs [{n}, C, {plan.frames}, H, W]")
        video = video.to(device).float().clamp(-1, 1)
        total = video if total is None else total + video
    return total / samples


def _safe(run: _Run, metric: Metric, system: str, video: torch.Tensor, real: torch.Tensor | None) -> None:
    """Score one metric; a failing (third-party) metric is recorded in the report, not fatal."""
    tally = run.tally
    if metric.name in tally.errors:
        return
    try:
        per_clip, per_frame = _score_metric(metric, run.plan, video, real, run.data)
    except Exception as exc:  # noqa: BLE001
        text = (str(exc).strip().splitlines() or [""])[0]
        tally.errors[metric.name] = f"{type(exc).__name__}: {text}" if not isinstance(exc, VidsynthError) else text
        return
    tally.add(metric.name, system, per_clip, per_frame)


def _keep(shown: dict[str, list[np.ndarray]], outputs: dict[str, torch.Tensor], truth: torch.Tensor, limit: int,
          conditional: bool) -> None:
    from vidsynth.tensors import model_to_clips

    have = sum(len(c) for c in shown.get(MODEL, []))
    if have >= limit:
        return
    take = limit - have
    shown.setdefault("ground truth" if conditional else "reference", []).append(model_to_clips(truth[:take]))
    for name, video in outputs.items():
        shown.setdefault(name, []).append(model_to_clips(video[:take]))


def _assemble(run: _Run, seconds: float) -> dict[str, Any]:
    """The report dict of a finished run (``report.json``)."""
    tally, plan, systems, metrics, banks = run.tally, run.plan, run.systems, run.metrics, run.banks
    options, indices, conditional, baselines = run.options, run.indices, run.conditional, run.baselines
    clip_frames, source, device = run.clip_frames, run.source, run.device
    from vidsynth.metrics import frechet

    baseline_names = [b.name for b in baselines] + list(run.statistics_only) if conditional else [REAL, SHUFFLED, STILL]
    ref_name = REAL if conditional else "reference"
    out_metrics: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for m in metrics:
        entry: dict[str, Any] = {**m.info(), "results": {}, "vs_baselines": {}}
        if m.name in tally.errors:
            entry["error"] = tally.errors[m.name]
            out_metrics[m.name] = entry
            continue
        values = tally.values.get(m.name, {})
        rows = systems + (list(run.statistics_only) + [ref_name] if m.kind == "statistic" else [])
        for name in rows:
            if name in values:
                entry["results"][name] = stats.summarize(values[name])
        model_values = values.get(MODEL)
        for name in baseline_names:
            if model_values is None or name not in values:
                continue
            diff = (stats.paired_difference(model_values, values[name]) if conditional
                    else stats.welch_difference(model_values, values[name]))
            diff["verdict"] = stats.verdict(diff, m.higher_is_better)
            entry["vs_baselines"][name] = diff
        if m.kind == "statistic":
            ref_mean = entry["results"].get(ref_name, {}).get("mean")
            entry["ratio_to_real"] = {
                name: (r["mean"] / ref_mean if r.get("mean") is not None and ref_mean else None)
                for name, r in entry["results"].items() if name != ref_name
            }
        out_metrics[m.name] = entry
        if m.per_frame and m.name in tally.curve_sum:
            curves[m.name] = {name: tally.curve(m.name, name) for name in tally.curve_sum[m.name]}

    distribution: dict[str, Any] = {}
    for kind, bank in banks.items():
        result: dict[str, Any] = {"convention": frechet.FVD_CONVENTION if kind == "fvd" else frechet.FID_CONVENTION}
        if kind == "fvd":
            result["frames"] = min(options.fvd_frames, plan.frames) if options.fvd_frames else plan.frames
        if "reference" not in bank:
            result["error"] = "no reference clips"
        else:
            ref = bank.get("reference")
            result["reference_size"] = int(ref.shape[0])
            for name in bank.features:
                if name == "reference":
                    continue
                feats = bank.get(name)
                try:
                    value = frechet.frechet_distance_of_features(feats, ref)
                    if not np.isfinite(value):
                        raise VidsynthError("the detector's features are not finite")
                except VidsynthError as exc:
                    value, result.setdefault("errors", {})[name] = None, str(exc)
                result[name] = value
                result.setdefault("sizes", {})[name] = int(feats.shape[0])
            result["floor"] = result.get(REAL)
        distribution[kind] = result

    horizons: dict[str, Any] = {}
    if plan.task in ("first-frame", "next-frame"):
        # value at horizon h: the mean of the per-frame curve over the frames h away from a given frame
        for name, per_system in curves.items():
            horizons[name] = {s: [_mean_of([c[t] for t in frames]) for frames in plan.horizons.values()]
                              for s, c in per_system.items()}

    notes = []
    if plan.task == "keyframes" and options.flow is None and not any(b.name == "flow" for b in baselines):
        notes.append(f"flow baseline skipped: OpenCV is not installed; {FLOW_INSTALL}")
    if "fvd" not in banks:
        notes.append(f"FVD not computed: {frechet.I3D_HELP}")
    if "fid" not in banks:
        notes.append(f"FID not computed: {frechet.INCEPTION_HELP}")
    for name, error in tally.errors.items():
        notes.append(f"metric {name} not computed: {error}")

    return {
        "vidsynth_version": __version__,
        "task": plan.task,
        "plan": plan.describe(),
        "clip_frames": clip_frames,
        "source": source,
        "clips": len(indices),
        "clip_indices": indices,
        "seed": options.seed,
        "batch_size": options.batch_size,
        "mean": options.mean,
        "samples": options.samples,
        "device": str(device),
        "seconds": round(seconds, 3),
        "systems": systems,
        "statistics_only": list(run.statistics_only),
        "baselines": (
            {b.name: b.description for b in baselines} | (
                {SHUFFLED: describe_unconditional_baselines()[SHUFFLED]} if run.statistics_only else {})
            if conditional else describe_unconditional_baselines()
        ),
        "conventions": {
            "pixels": "metrics see pixel values in [0, 1] (model output clamped to [-1, 1], then (x + 1) / 2)",
            "psnr": "per-frame PSNR in dB averaged over the scored frames (not pooled), capped at 100 dB",
            "scored_frames": "metrics score the frames the model produced, except frames='all' ones (l2-table2)",
            "interval": "95% Student t interval of the mean over clips; model - baseline: "
            + ("paired per clip" if conditional else "Welch (unpaired sets)"),
            "distribution": "Fréchet distances of outputs on the odd clips vs the real even clips; "
            "floor = real odd vs real even",
        },
        "metrics": out_metrics,
        "curves": curves,
        "per_horizon": horizons,
        "distribution": distribution,
        "notes": notes,
    }

