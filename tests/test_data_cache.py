"""The clip cache: folders of videos become uint8 clip shards; bad files are skipped and listed; re-runs
decode nothing; parameters key the cache; the split follows the source video; parts merge."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from fixtures_media import bad_files, encode, pattern_frames, video
from vidsynth.data import CacheParams, open_clips, prepare_cache
from vidsynth.data import clip_cache
from vidsynth.data.clip_cache import merge_caches, recover
from vidsynth.data.manifest import Manifest, split_for
from vidsynth.errors import VidsynthError

PARAMS = CacheParams(frames=8, size=16)  # 20-frame videos give clips at frames 0-7 and 8-15


@pytest.fixture(scope="module")
def source_folder(tmp_path_factory):
    """Four good 20-frame videos (one portrait, one in a sub-folder) and one bad file of every kind."""
    root = tmp_path_factory.mktemp("videos")
    for i in range(3):
        video(root / f"clip{i}.mp4", n=20, seed=i)
    (root / "nested").mkdir()
    encode(root / "nested" / "tall.mp4", pattern_frames(20, 48, 24, seed=9))
    (root / "notes.txt").write_text("not a video")
    (root / ".hidden.mp4").write_bytes(b"ignored: hidden")
    expected = bad_files(root / "bad", root / "clip0.mp4")
    return root, {f"bad/{name}": words for name, words in expected.items()}


def prepared(tmp_path, source_folder, params=PARAMS, **kwargs):
    root, _ = source_folder
    return prepare_cache(root, tmp_path / "cache", params, progress=False, workers=kwargs.pop("workers", 1), **kwargs)


def test_prepare_makes_clips_of_the_requested_shape(tmp_path, source_folder):
    report = prepared(tmp_path, source_folder)
    assert report.counts["sources"] == 4 and report.counts["clips"] == 8
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    assert len(ds) == 8
    clip = ds[0]
    assert clip.dtype == torch.uint8 and clip.shape == (8, 16, 16, 3)
    json.dumps(ds.describe())


def test_clips_hold_consecutive_windows_of_the_video(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    manifest = Manifest.load(tmp_path / "cache")
    order = sorted(manifest.sources)
    first = order.index("clip0.mp4") * 2  # two clips per video, in source order
    levels = np.concatenate([ds[first].float().mean(dim=(1, 2, 3)).numpy(), ds[first + 1].float().mean(dim=(1, 2, 3)).numpy()])
    steps = np.diff(levels)
    assert np.all(np.abs(steps - 12) < 3)  # the fixture raises the level by 12 per frame: no gaps, no repeats


def test_every_bad_file_is_skipped_with_its_reason(tmp_path, source_folder):
    _, expected = source_folder
    report = prepared(tmp_path, source_folder)
    assert set(report.skipped) == set(expected)
    for rel, words in expected.items():
        assert any(w in report.skipped[rel].lower() for w in words.split("|")), (rel, report.skipped[rel])
    manifest = Manifest.load(tmp_path / "cache")
    assert set(manifest.skipped) == set(expected)
    assert manifest.data["ignored"] == {"count": 1, "examples": ["notes.txt"]}


def test_frames_over_the_pixel_limit_are_skipped_before_decoding(tmp_path, source_folder):
    report = prepared(tmp_path, source_folder, max_pixels=1100)
    assert "24x48 are larger than the limit of 1100 pixels" in report.skipped["nested/tall.mp4"]
    assert "clip0.mp4" not in report.skipped  # 32x32 is under the limit


def test_second_prepare_decodes_nothing(tmp_path, source_folder, monkeypatch):
    first = prepared(tmp_path, source_folder)
    before = (tmp_path / "cache" / "manifest.json").read_text()

    def no_decoding(*args, **kwargs):
        raise AssertionError("a finished source was decoded again")

    monkeypatch.setattr(clip_cache, "VideoReader", no_decoding)
    second = prepared(tmp_path, source_folder)
    assert second.decoded == 0 and second.skipped == {} and second.new_clips == 0
    assert second.reused == first.decoded + len(first.skipped)
    after = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert after["sources"] == json.loads(before)["sources"] and after["runs"] == 2


def test_a_changed_file_is_decoded_again_and_a_deleted_one_dropped(tmp_path, source_folder):
    root = tmp_path / "videos"
    shutil.copytree(source_folder[0], root)
    prepare_cache(root, tmp_path / "cache", PARAMS, progress=False, workers=1)
    video(root / "clip1.mp4", n=30, seed=5)  # different size and mtime
    (root / "clip2.mp4").unlink()
    report = prepare_cache(root, tmp_path / "cache", PARAMS, progress=False, workers=1)
    assert report.decoded == 1 and report.removed == 1
    manifest = Manifest.load(tmp_path / "cache")
    assert manifest.sources["clip1.mp4"]["clips"] == 3 and "clip2.mp4" not in manifest.sources


def test_other_parameters_never_write_into_an_existing_cache(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    before = (tmp_path / "cache" / "manifest.json").read_bytes()
    with pytest.raises(VidsynthError, match="other parameters.*left untouched"):
        prepared(tmp_path, source_folder, params=CacheParams(frames=4, size=16))
    assert (tmp_path / "cache" / "manifest.json").read_bytes() == before


def test_out_folder_with_other_files_is_refused(tmp_path, source_folder):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "precious.txt").write_text("mine")
    with pytest.raises(VidsynthError, match="not a clip cache"):
        prepared(tmp_path, source_folder)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["precious.txt"]  # not even a lock file


def test_raw_folder_is_prepared_once_under_a_key_of_its_parameters(tmp_path, source_folder):
    root, _ = source_folder
    a = open_clips(root, frames=8, size=16, cache_dir=tmp_path, workers=1, progress=False)
    b = open_clips(root, frames=8, size=16, cache_dir=tmp_path, workers=1, progress=False)
    c = open_clips(root, frames=4, size=16, cache_dir=tmp_path, workers=1, progress=False)
    assert a.describe()["cache"] == b.describe()["cache"] != c.describe()["cache"]
    assert len(list((tmp_path / "clips").iterdir())) == 2
    assert c.describe()["frames"] == 4 and c[0].shape == (4, 16, 16, 3)


def test_interrupted_prepare_resumes_with_the_unfinished_sources(tmp_path, source_folder, monkeypatch):
    real = clip_cache.process_source
    done = []

    def interrupt_on_third(task, *args):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(task.rel)
        return real(task, *args)

    monkeypatch.setattr(clip_cache, "process_source", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepared(tmp_path, source_folder)
    manifest = Manifest.load(tmp_path / "cache")
    assert sorted([*manifest.sources, *manifest.skipped]) == sorted(done) and not manifest.data["complete"]
    monkeypatch.setattr(clip_cache, "process_source", real)
    report = prepared(tmp_path, source_folder)
    assert report.reused == 2 and report.decoded + len(report.skipped) == 11 - 2
    assert Manifest.load(tmp_path / "cache").data["complete"]
    full = prepare_cache(source_folder[0], tmp_path / "fresh", PARAMS, progress=False, workers=1)
    assert report.counts == full.counts


def test_recover_cuts_crash_leftovers_and_removes_stray_shards(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    manifest = Manifest.load(tmp_path / "cache")
    name, info = next(iter(manifest.shards.items()))
    shard = tmp_path / "cache" / name
    with open(shard, "ab") as handle:
        handle.write(b"\x07" * 1000)  # half a clip written when the power went out
    stray = tmp_path / "cache" / "shards" / "train-r009-w00-0000.npy"
    stray.write_bytes(b"junk")
    recover(manifest)
    assert not stray.exists()
    array = np.load(shard, mmap_mode="r")
    assert array.shape == (info["clips"], 8, 16, 16, 3)


def test_shards_are_plain_npy_files(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    manifest = Manifest.load(tmp_path / "cache")
    total = sum(np.load(tmp_path / "cache" / name, mmap_mode="r").shape[0] for name in manifest.shards)
    assert total == manifest.data["counts"]["clips"]


def test_small_shard_limit_spreads_one_video_over_several_shards(tmp_path, source_folder):
    prepared(tmp_path, source_folder, clips_per_shard=1)
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    reference = open_clips(prepared(tmp_path / "b", source_folder).out, frames=8, size=16, split="all")
    assert len(Manifest.load(tmp_path / "cache").shards) == 8
    assert all(torch.equal(ds[i], reference[i]) for i in range(len(ds)))


def test_worker_processes_give_the_same_clips_as_one_process(tmp_path, source_folder):
    one = open_clips(prepared(tmp_path / "one", source_folder).out, frames=8, size=16, split="all")
    two = open_clips(prepared(tmp_path / "two", source_folder, workers=2).out, frames=8, size=16, split="all")
    assert len(one) == len(two) == 8
    assert all(torch.equal(one[i], two[i]) for i in range(8))
    assert set(Manifest.load(tmp_path / "two" / "cache").skipped) == set(Manifest.load(tmp_path / "one" / "cache").skipped)


# -- splits and parts ---------------------------------------------------------------------------------
def test_split_is_a_fixed_function_of_the_relative_path():
    names = [f"videos/v{i:03d}.mp4" for i in range(400)]
    first = [split_for(n, 0.1) for n in names]
    assert first == [split_for(n, 0.1) for n in names]
    assert 20 <= first.count("test") <= 60
    assert split_for("a/b.mp4", 0.5) == "train" and split_for("a/c.mp4", 0.5) == "test"  # pinned: never changes
    assert all(split_for(n, 0.0) == "train" for n in names) and all(split_for(n, 1.0) == "test" for n in names)


def test_all_clips_of_a_video_share_its_split_and_splits_partition_the_clips(tmp_path, source_folder):
    prepared(tmp_path, source_folder, params=CacheParams(frames=8, size=16, test_fraction=0.5))
    manifest = Manifest.load(tmp_path / "cache")
    for rel, entry in manifest.sources.items():
        assert entry["split"] == split_for(rel, 0.5)
    train = open_clips(tmp_path / "cache", frames=8, size=16, split="train")
    test = open_clips(tmp_path / "cache", frames=8, size=16, split="test")
    train_shards = {s for s, _, _ in manifest.clip_ranges("train")}
    test_shards = {s for s, _, _ in manifest.clip_ranges("test")}
    assert not train_shards & test_shards
    assert len(train) + len(test) == 8 and len(train) > 0 and len(test) > 0


def test_parts_are_disjoint_and_their_merge_equals_one_full_prepare(tmp_path, source_folder):
    root, _ = source_folder
    parts = [prepare_cache(root, tmp_path / f"part{i}", PARAMS, shard=f"{i}/2", progress=False, workers=1)
             for i in (1, 2)]
    sets = [set(Manifest.load(p.out).sources) | set(Manifest.load(p.out).skipped) for p in parts]
    assert not sets[0] & sets[1] and sets[0] and sets[1]
    merged = merge_caches(tmp_path / "merged", [p.out for p in parts])
    full = prepare_cache(root, tmp_path / "full", PARAMS, progress=False, workers=1)
    assert merged.data["complete"] and merged.data["counts"] == full.counts
    a = open_clips(tmp_path / "merged", frames=8, size=16, split="all")
    b = open_clips(tmp_path / "full", frames=8, size=16, split="all")
    assert all(torch.equal(a[i], b[i]) for i in range(len(b)))


def test_merge_notes_missing_parts_and_refuses_overlaps(tmp_path, source_folder):
    root, _ = source_folder
    one = prepare_cache(root, tmp_path / "p1", PARAMS, shard="1/3", progress=False, workers=1)
    merged = merge_caches(tmp_path / "m", [one.out])
    assert merged.data["missing_parts"] == ["2/3", "3/3"] and not merged.data["complete"]
    shutil.copytree(one.out, tmp_path / "copy")
    with pytest.raises(VidsynthError, match="parts must be disjoint"):
        merge_caches(tmp_path / "m2", [one.out, tmp_path / "copy"])
    with pytest.raises(VidsynthError, match="merged cache"):
        prepare_cache(root, tmp_path / "m", PARAMS, progress=False, workers=1)


def test_bad_shard_spec_is_refused(tmp_path, source_folder):
    with pytest.raises(VidsynthError, match="I/N"):
        prepared(tmp_path, source_folder, shard="half")
    with pytest.raises(VidsynthError, match="between 1 and N"):
        prepared(tmp_path, source_folder, shard="3/2")


# -- the Dataset -------------------------------------------------------------------------------------
def test_longer_stored_clips_give_windows_and_augment_picks_offsets_and_flips(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    stored = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    plain = open_clips(tmp_path / "cache", frames=4, size=16, split="all")
    assert torch.equal(plain[0], stored[0][:4])
    torch.manual_seed(0)
    augmented = open_clips(tmp_path / "cache", frames=4, size=16, split="all", augment=True)
    full = stored[0]
    windows = {(o, f): (full[o : o + 4].flip(2) if f else full[o : o + 4]) for o in range(5) for f in (0, 1)}
    seen = set()
    for _ in range(60):
        item = augmented[0]
        match = [k for k, w in windows.items() if torch.equal(item, w)]
        assert match
        seen.add(match[0])
    assert {o for o, _ in seen} == set(range(5)) and {f for _, f in seen} == {0, 1}


def test_channels_convert_between_gray_and_rgb(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    gray = open_clips(tmp_path / "cache", frames=8, size=16, channels=1, split="all")
    rgb = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    expected = (rgb[0].float() @ torch.tensor([0.299, 0.587, 0.114])).round()
    assert gray[0].shape == (8, 16, 16, 1)
    assert torch.allclose(gray[0][..., 0].float(), expected, atol=1)


def test_requests_the_cache_cannot_serve_are_clear_errors(tmp_path, source_folder):
    prepared(tmp_path, source_folder)
    with pytest.raises(VidsynthError, match="16x16 clips, not 32x32"):
        open_clips(tmp_path / "cache", frames=8, size=32)
    with pytest.raises(VidsynthError, match="fewer than the 9"):
        open_clips(tmp_path / "cache", frames=9, size=16)
    with pytest.raises(VidsynthError, match="each video's own frame rate"):
        open_clips(tmp_path / "cache", frames=8, size=16, fps=5)
    with pytest.raises(VidsynthError, match="unknown split"):
        open_clips(tmp_path / "cache", frames=8, size=16, split="val")


def test_distributed_sampler_splits_the_clips_between_ranks(tmp_path, source_folder):
    from torch.utils.data import DataLoader, DistributedSampler

    prepared(tmp_path, source_folder)
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=0)
        batches = list(DataLoader(ds, batch_size=2, sampler=sampler))
        assert all(b.shape == (2, 8, 16, 16, 3) for b in batches)
        seen.append(set(sampler))
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(8))


def test_dataset_works_in_dataloader_worker_processes(tmp_path, source_folder):
    from torch.utils.data import DataLoader

    prepared(tmp_path, source_folder)
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    ds[0]  # opens memory maps in this process: they must not be pickled to the workers
    loaded = torch.cat(list(DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")))
    assert torch.equal(loaded, torch.stack([ds[i] for i in range(8)]))


# -- sources that give nothing -----------------------------------------------------------------------
def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(VidsynthError, match="no such file or folder"):
        open_clips(tmp_path / "nowhere", frames=8, size=16)


def test_folder_without_videos_is_a_clear_error(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    with pytest.raises(VidsynthError, match="has no video files"):
        open_clips(tmp_path / "docs", frames=8, size=16, cache_dir=tmp_path / "c", progress=False)


def test_folder_of_only_bad_videos_names_the_reasons(tmp_path, source_folder):
    shutil.copytree(source_folder[0] / "bad", tmp_path / "bad")
    with pytest.raises(VidsynthError, match=r"no decodable videos.*7 skipped.*too short|no decodable videos.*7 skipped"):
        open_clips(tmp_path / "bad", frames=8, size=16, cache_dir=tmp_path / "c", workers=1, progress=False)


def test_parameters_are_validated():
    with pytest.raises(VidsynthError, match="frames"):
        CacheParams(frames=0, size=16)
    with pytest.raises(VidsynthError, match="test fraction"):
        CacheParams(frames=8, size=16, test_fraction=1.5)
    with pytest.raises(VidsynthError, match="fit"):
        CacheParams(frames=8, size=16, fit="none")
    assert CacheParams(frames=8, size=16).stride == 8


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDSYNTH_CACHE", str(tmp_path))
    assert clip_cache.default_cache_root() == tmp_path
    monkeypatch.delenv("VIDSYNTH_CACHE")
    assert clip_cache.default_cache_root() == __import__("pathlib").Path.home() / ".cache" / "vidsynth"
    assert os.environ.get("VIDSYNTH_CACHE") is None


def test_collate_clips_stacks_like_the_default_collate(tmp_path, source_folder):
    from torch.utils.data import DataLoader

    from vidsynth.data import collate_clips

    prepared(tmp_path, source_folder)
    ds = open_clips(tmp_path / "cache", frames=8, size=16, split="all")
    ours = next(iter(DataLoader(ds, batch_size=5, collate_fn=collate_clips)))
    default = next(iter(DataLoader(ds, batch_size=5)))
    assert ours.dtype == torch.uint8 and torch.equal(ours, default)


def test_a_decoder_crash_costs_only_that_file(tmp_path, source_folder, monkeypatch):
    # Worker processes are spawned, so the crash is planted through sitecustomize, which every new
    # Python runs at start-up: it makes decoding "crash.mp4" kill the process, as a segfault would.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os\n"
        "from vidsynth.data import clip_cache\n"
        "real = clip_cache.process_source\n"
        "def crashing(task, *args):\n"
        "    if task.rel == 'crash.mp4':\n"
        "        os._exit(139)\n"
        "    return real(task, *args)\n"
        "clip_cache.process_source = crashing\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("a.mp4", "crash.mp4", "b.mp4", "c.mp4"):
        shutil.copy(source_folder[0] / "clip0.mp4", root / name)
    report = prepare_cache(root, tmp_path / "cache", PARAMS, progress=False, workers=2)
    assert list(report.skipped) == ["crash.mp4"] and "decoder crashed" in report.skipped["crash.mp4"]
    assert report.decoded == 3 and report.counts["clips"] == 6
