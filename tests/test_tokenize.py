"""Stage 4: audio loading (resample, mono, bad audio), storage round trip, resume, validation, run.sh."""
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Recording, load_manifest
from lhotse.cut import MonoCut
from lhotse.features.io import close_cached_file_handles

from conftest import TINY_CONFIG, recipe_dirs, run_recipe
from valle.codec.encodec import HOP_LENGTH, SAMPLE_RATE, load_codec
from valle.codec.tokenize import (TokenizeConfig, load_cut_audio, plan_shards, tokenize_parts, validate_part,
                                  batches_by_duration)
from valle.corpus.manifests import prepare_corpus


def cut_of(path):
    return Recording.from_file(path).to_cut()


@pytest.mark.parametrize("sr,channels", [(16000, 1), (22050, 1), (44100, 2), (48000, 2), (24000, 1)])
def test_audio_is_resampled_to_24k_mono(tmp_path, sr, channels):
    t = np.arange(int(0.5 * sr)) / sr
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    audio = np.stack([tone, -0.5 * tone], 1) if channels == 2 else tone
    path = tmp_path / f"a_{sr}.flac"
    sf.write(path, audio, sr)
    out, reason = load_cut_audio(cut_of(path))
    assert reason is None and out.ndim == 1 and out.dtype == np.float32
    assert abs(len(out) - SAMPLE_RATE // 2) <= 1
    expected_amplitude = 0.4 * (0.25 if channels == 2 else 1.0)  # (x - 0.5x) / 2 for the stereo mix
    assert np.abs(out[1000:-1000]).max() == pytest.approx(expected_amplitude, rel=0.05)


def test_unusable_audio_gives_reasons(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, np.float32), 24000)
    assert "shorter than one codec frame" in load_cut_audio(cut_of(short))[1]
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(24000, np.float32), 24000)
    cut = cut_of(good)
    good.write_bytes(b"garbage" * 10)
    assert load_cut_audio(cut)[1].startswith("cannot load audio")


def test_shard_and_batch_planning():
    assert plan_shards([10, 10, 10, 10, 10], 25) == [(0, 3), (3, 5)]
    assert plan_shards([100], 25) == [(0, 1)]
    assert plan_shards([], 25) == []
    lengths = [24000 * s for s in (1, 5, 2, 5)]
    assert batches_by_duration(lengths, 0) == [[1], [3], [2], [0]]
    assert batches_by_duration(lengths, 10) == [[1, 3], [2, 0]]  # 2 x 5 s, then 2 x 2 s padded


@pytest.fixture(scope="module")
def stage1(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1")
    prepare_corpus("librispeech", tiny_corpus / "LibriSpeech", ["train-clean-100", "dev-clean", "test-clean"], out)
    return out


@pytest.fixture(scope="module")
def codec_path(tiny_corpus, stage1, tmp_path_factory):
    from valle.codec.encodec import fit_random_codec
    cuts = load_manifest(stage1 / "cuts_train-clean-100.jsonl.gz")
    torch.set_num_threads(2)
    codec = fit_random_codec((load_cut_audio(c)[0] for c in cuts), max_frames=9000, kmeans_iters=4)
    path = tmp_path_factory.mktemp("codec") / "codec.pt"
    codec.save(path)
    return path


def test_prepare_codec_mel_rvq_is_saved_reused_and_says_why_it_cannot_fit(stage1, tmp_path):
    from valle.codec.config import CodecConfig
    from valle.codec.stage import prepare_codec
    fit = [stage1 / "cuts_train-clean-100.jsonl.gz"]
    cfg = CodecConfig(type="mel_rvq", fit_frames=9000)
    out = tmp_path / "codec.pt"
    prepare_codec(out, "", fit, cfg)
    info = json.loads(out.with_suffix(".json").read_text())
    assert (info["kind"], info["real_weights"], info["num_codebooks"]) == ("mel_rvq", True, 8)
    assert type(load_codec(out)).__name__ == "MelRvqCodec"
    made = out.stat().st_mtime_ns
    prepare_codec(out, "", fit, cfg)  # the same request: reused
    assert out.stat().st_mtime_ns == made
    # A manifest whose audio cannot be read: the error says so (it used to say only "got 0 frames").
    import gzip
    with gzip.open(fit[0], "rt") as f:
        text = f.read()
    corpus = str(load_manifest(fit[0])[0].recording.sources[0].source).split("/LibriSpeech/")[0]
    with gzip.open(tmp_path / "moved.jsonl.gz", "wt") as f:  # the same cuts, the corpus moved away
        f.write(text.replace(corpus, str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match=r"cuts had no usable audio, e\.g\. .*cannot load audio"):
        prepare_codec(tmp_path / "other.pt", "", [tmp_path / "moved.jsonl.gz"], cfg)


def test_codes_round_trip_exactly_and_frames_match_lhotse(stage1, codec_path, tmp_path):
    parts = [("dev-clean", stage1 / "cuts_dev-clean.jsonl.gz")]
    (summary,) = tokenize_parts(parts, codec_path, tmp_path, num_jobs=1, config=TokenizeConfig(threads=2))
    assert summary["cuts"] == 2 and summary["skipped"] == []
    codec = load_codec(codec_path)
    for cut in load_manifest(tmp_path / "cuts_dev-clean.jsonl.gz"):
        stored = cut.codes.load()
        audio, _ = load_cut_audio(cut)
        assert stored.dtype == np.int16 and stored.shape == (-(-len(audio) // HOP_LENGTH), 8)
        assert np.array_equal(stored, codec.encode_batch([audio])[0])  # lossless storage
        loaded = cut.load_codes()  # lhotse trims to the cut's frame count: may be one frame short
        assert 0 <= stored.shape[0] - loaded.shape[0] <= 1
        assert np.array_equal(loaded, stored[: len(loaded)])
    assert validate_part(tmp_path / "cuts_dev-clean.jsonl.gz", 8) == (2, [])


def test_resume_redoes_only_unfinished_shards(stage1, codec_path, tmp_path):
    parts = [("test-clean", stage1 / "cuts_test-clean.jsonl.gz")]
    config = TokenizeConfig(threads=2, shard_seconds=1.0)  # one cut per shard
    tokenize_parts(parts, codec_path, tmp_path, config=config)
    shards = sorted((tmp_path / "test-clean").glob("shard_*.json"))
    assert len(shards) == 4
    first = load_manifest(tmp_path / "cuts_test-clean.jsonl.gz")
    reference = {c.id: c.codes.load() for c in first}
    # A run killed inside shard 2: no .json (not done), a half-written .h5.
    shards[2].unlink()
    shards[2].with_suffix(".h5").write_bytes(b"\x89HDF half written")
    close_cached_file_handles()  # as a new process would: no reader of the old files
    kept = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "test-clean").glob("shard_*.h5") if p != shards[2].with_suffix(".h5")}
    tokenize_parts(parts, codec_path, tmp_path, config=config)
    close_cached_file_handles()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "test-clean").glob("shard_*.h5")
            if p.name in kept} == kept  # finished shards untouched
    again = load_manifest(tmp_path / "cuts_test-clean.jsonl.gz")
    assert [c.id for c in again] == [c.id for c in first]
    assert all(np.array_equal(c.codes.load(), reference[c.id]) for c in again)
    assert validate_part(tmp_path / "cuts_test-clean.jsonl.gz", 8) == (4, [])


def test_bad_audio_is_skipped_and_counted(stage1, codec_path, tmp_path):
    cuts = list(load_manifest(stage1 / "cuts_dev-clean.jsonl.gz"))
    broken = tmp_path / "broken.flac"
    shutil.copy(cuts[0].recording.sources[0].source, broken)
    broken.write_bytes(broken.read_bytes()[:200])
    bad_cut = MonoCut("broken", 0, cuts[0].duration, 0, recording=Recording.from_dict(
        {**cuts[0].recording.to_dict(), "id": "broken", "sources": [{"type": "file", "channels": [0], "source": str(broken)}]}))
    manifest = tmp_path / "cuts_mixed.jsonl.gz"
    CutSet.from_cuts([cuts[1], bad_cut]).to_file(manifest)
    (summary,) = tokenize_parts([("mixed", manifest)], codec_path, tmp_path / "tokens", config=TokenizeConfig(threads=2))
    assert summary["cuts"] == 1
    assert [cid for cid, _ in summary["skipped"]] == ["broken"]
    assert summary["skipped"][0][1].startswith("cannot load audio")


def test_validation_catches_bad_arrays(stage1, codec_path, tmp_path):
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.utils import fastcopy
    cuts = list(load_manifest(stage1 / "cuts_dev-clean.jsonl.gz"))
    frames = -(-round(cuts[0].duration * SAMPLE_RATE) // HOP_LENGTH)
    arrays = {"range": np.full((frames, 8), 2000, np.int16), "shape": np.zeros((frames, 4), np.int16),
              "dtype": np.zeros((frames, 8), np.int32), "length": np.zeros((frames + 9, 8), np.int16),
              "ok": np.zeros((frames, 8), np.int16)}
    out = []
    with NumpyHdf5Writer(tmp_path / "x.h5") as w:
        for name, a in arrays.items():
            out.append(fastcopy(cuts[0], id=name, custom={"codes": w.store_array(name, a, frame_shift=1 / 75, temporal_dim=0)}))
    out.append(fastcopy(cuts[0], id="none", custom={}))
    CutSet.from_cuts(out).to_file(tmp_path / "cuts.jsonl.gz")
    n, bad = validate_part(tmp_path / "cuts.jsonl.gz", 8)
    assert n == 6 and sorted(cid for cid, _ in bad) == ["dtype", "length", "none", "range", "shape"]


def test_two_workers_give_the_same_codes_as_one(stage1, codec_path, tmp_path):
    parts = [("test-clean", stage1 / "cuts_test-clean.jsonl.gz")]
    config = TokenizeConfig(threads=1, shard_seconds=1.0)
    tokenize_parts(parts, codec_path, tmp_path / "one", num_jobs=1, config=config)
    tokenize_parts(parts, codec_path, tmp_path / "two", num_jobs=2, config=config)
    one = {c.id: c.codes.load() for c in load_manifest(tmp_path / "one" / "cuts_test-clean.jsonl.gz")}
    two = {c.id: c.codes.load() for c in load_manifest(tmp_path / "two" / "cuts_test-clean.jsonl.gz")}
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)


@pytest.mark.e2e
def test_run_sh_stage_4_encodec_without_weights(tmp_path, tiny_conf):
    """codec=encodec (librispeech's default) where no weights can be had: a random EnCodec, said loudly.
    (Mini's own codec, mel_rvq, goes through stage 4 in every other end-to-end test.)"""
    tiny_conf.write_text(tiny_conf.read_text() + "codec=encodec\ncodec_fit_frames=16000\n")
    common = ["--conf", tiny_conf, *recipe_dirs(tmp_path)]
    run_recipe("--stage", 0, "--stop-stage", 1, *common)
    out = run_recipe("--stage", 4, "--stop-stage", 4, *common).stdout
    assert "NO REAL ENCODEC WEIGHTS" in out
    tokens = tmp_path / "data" / "tokens"
    assert (tokens / ".done").is_file()
    info = json.loads((tokens / "codec.json").read_text())
    assert info["real_weights"] is False and info["num_codebooks"] == 8 and info["kind"] == "encodec"
    summary = {s["part"]: s for s in json.loads((tokens / "summary.json").read_text())}
    assert set(summary) == {"train-clean-100", "small", "medium", "large", "dev-clean", "test-clean"}
    assert all(s["bad_arrays"] == [] and s["validated"] == s["cuts"] for s in summary.values())
    assert summary["train-clean-100"]["cuts"] == TINY_CONFIG.train_speakers * TINY_CONFIG.train_utts_per_speaker
    assert "Stage 4 already done" in run_recipe("--stage", 4, "--stop-stage", 4, *common).stdout
