"""Training data: the build (join of stages 3 and 4, LibriLight segments merged, out-of-core shuffle into shards),
crops at phone boundaries, NAR prompts, collation, bucketing."""
import gzip
import json
import random

import pytest
import torch
from lhotse import CutSet, load_manifest
from lhotse.dataset import DynamicBucketingSampler

from conftest import make_training_data
from valle.data.config import TtsDataConfig
from valle.data.dataset import FRAME_RATE, CropAwareConstraint, CropConfig, ValleDataset, choose_crop
from valle.data.tts_data import build_tts_data, group_segments, shard_paths, shuffle_into_shards
from valle.models.config import text_vocab_size
from valle.text.lang_dir import read_phone_table


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_training_data(tmp_path_factory.mktemp("train_data"), num_cuts=24, seed=3)


@pytest.fixture(scope="module")
def cuts(data):
    return CutSet.from_cuts(CutSet.from_files(shard_paths(data["tts"]), shuffle_iters=False))


def runs(seq):
    """Consecutive distinct values."""
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_build_joins_merges_and_shuffles(data, cuts, tmp_path):
    summary = json.loads((data["tts"] / "summary.json").read_text())
    # 24 one-utterance cuts + one LibriLight-like recording whose 3 segments (gaps 0 and 0.5 s) join into one.
    assert len(cuts) == 25 and summary["train"]["examples"] == 25 and summary["train"]["segments_kept"] == 27
    assert len(summary["train"]["shards"]) == 4 and summary["valid"]["examples"] == 25
    [merged] = [c for c in cuts if c.id.startswith("rec024")]
    assert merged.id == "rec024#rec024-0"
    aligned = {c.id: c for c in load_manifest(data["aligned"])}
    sups = aligned["rec024"].supervisions
    assert merged.start == sups[0].start and abs(merged.start + merged.duration - sups[2].end) < 1e-3
    phones = merged.custom["phones"].split()
    # The 0.5 s silence between segments 2 and 3 is SIL (merged with a SIL at either side).
    gap_start, gap_end = sups[1].end, sups[2].start
    frames = [int(f) for f in merged.custom["phone_frames"].split()]
    sil = [(frames[i], frames[i + 1]) for i, p in enumerate(phones) if p == "SIL"]
    assert any(a <= round(gap_start * FRAME_RATE) and round(gap_end * FRAME_RATE) <= b for a, b in sil)
    # Globally shuffled: the shards' order is not the corpus order, and each holds examples from all over it.
    order = [int(c.id[3:6]) for c in cuts]
    assert sorted(order) == list(range(25)) and order != sorted(order)
    # The validation file keeps the corpus order.
    with gzip.open(data["tts"] / "valid.jsonl.gz", "rt") as f:
        assert [json.loads(line)["id"][:6] for line in f] == [f"rec{i:03d}" for i in range(25)]
    # Cuts without codes, and supervisions without alignment, are counted (per segment) and left out.
    broken = []
    for c in load_manifest(data["aligned"]):
        if c.id == "rec001":
            c.supervisions[0].alignment = None
        broken.append(c)
    CutSet.from_cuts(broken).to_file(tmp_path / "a.jsonl.gz")
    load_manifest(data["tokens"]).filter(lambda c: c.id != "rec000").to_file(tmp_path / "t.jsonl.gz")
    s = build_tts_data([tmp_path / "a.jsonl.gz"], [tmp_path / "t.jsonl.gz"], tmp_path / "tts")
    assert s["train"]["left_out"] == {"no codes (stage 4)": 1, "no tts_phone alignment": 1}
    assert s["train"]["examples"] == 23 and s["valid"]["file"] is None
    ids = {c.id for c in CutSet.from_files(shard_paths(tmp_path / "tts"))}
    assert ids.isdisjoint({"rec000", "rec001"})
    assert s["fingerprint"] != summary["fingerprint"]
    # A build that did not finish (no summary.json, written last) is not training data.
    (tmp_path / "tts" / "summary.json").unlink()
    with pytest.raises(FileNotFoundError, match="local/prepare_tts_data.py"):
        shard_paths(tmp_path / "tts")


def test_segments_join_up_to_the_limits_and_never_over_unaligned_speech():
    def sup(i, start, dur):
        return {"id": f"s{i}", "start": start, "duration": dur}
    sups = [sup(0, 0.0, 4.0), sup(1, 4.5, 5.0), sup(2, 10.0, 4.0), sup(3, 14.5, 25.0), sup(4, 45.0, 2.0),
            sup(5, 47.5, 2.0), sup(6, 54.0, 1.0)]
    def ids(groups):
        return [[s["id"] for s in g] for g in groups]
    random.Random(0).shuffle(sups)   # any order in: time order out
    # Up to 20 s spans; a 25 s segment alone; a 4.5 s silence is not joined over (max gap 3 s).
    assert ids(group_segments(sups, 20.0, 3.0)) == [["s0", "s1", "s2"], ["s3"], ["s4", "s5"], ["s6"]]
    assert ids(group_segments(sups, 10.0, 3.0)) == [["s0", "s1"], ["s2"], ["s3"], ["s4", "s5"], ["s6"]]
    assert ids(group_segments(sups, 20.0, 10.0)) == [["s0", "s1", "s2"], ["s3"], ["s4", "s5", "s6"]]
    # A segment stage 3 could not align (between s1 and s2) splits the group: its speech has no phones.
    assert ids(group_segments(sups, 20.0, 3.0, unaligned=[[9.6, 0.3]])) == [["s0", "s1"], ["s2"], ["s3"],
                                                                           ["s4", "s5"], ["s6"]]


@pytest.mark.parametrize("max_open", [2, 100])
def test_out_of_core_shuffle_is_a_seeded_permutation(tmp_path, max_open):
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(f'{{"n": {i}}}\n' for i in range(1000)))

    def shuffled(seed, out):
        names, digest = shuffle_into_shards(lines, 1000, out, 90, seed, max_open=max_open)
        order = []
        for n in names:
            with gzip.open(out / n, "rt") as f:
                order += [json.loads(line)["n"] for line in f]
        return names, order, digest.hexdigest()
    names, order, digest = shuffled(1, tmp_path / "a")
    assert sorted(order) == list(range(1000)) and len(names) == 12      # every line once, ~90 per shard
    assert not list((tmp_path / "a").glob(".*"))                          # no temporary files left
    # Seeded (the same for any number of open buckets: each pass replays the same draws), and far from the input
    # order: consecutive inputs land ~uniformly, not together.
    assert shuffled(1, tmp_path / "b")[1:] == (order, digest)
    assert order == shuffled(1, tmp_path / "c")[1] and shuffled(2, tmp_path / "d")[1] != order
    first_shard = order[:90]
    assert max(first_shard) - min(first_shard) > 800


def test_choose_crop_respects_duration_and_boundaries():
    rng = random.Random(0)
    bounds = [0.0]
    for _ in range(200):
        bounds.append(bounds[-1] + rng.uniform(0.05, 0.2))      # ~25 s of phones
    crop = CropConfig(10, 20)
    for _ in range(50):
        i, j = choose_crop(bounds, rng, crop, train=True)
        assert 0 <= i < j <= 200
        assert bounds[j] - bounds[i] <= 20.0
        assert bounds[j] - bounds[i] >= 10.0 - 0.2   # at most one phone short of the drawn length
    starts = {choose_crop(bounds, rng, crop, train=True)[0] for _ in range(30)}
    assert len(starts) > 5  # random positions, not always the beginning
    assert choose_crop(bounds[:20], rng, crop, train=True) == (0, 19)  # shorter than 10 s: whole
    assert choose_crop(bounds, rng, crop, train=False)[0] == 0          # validation: deterministic


@pytest.mark.parametrize("model_type", ["ar", "nar"])
def test_crops_keep_phones_and_codes_aligned(data, cuts, model_type):
    ids = read_phone_table(data["phones"])
    ds = ValleDataset(ids, model_type, CropConfig(0.8, 1.6, 0.5), seed=1)
    eos = text_vocab_size(ids) - 1
    seen_partial = 0
    for cut in cuts:
        ex = ds.example(cut)
        text, codes = ex["text"], ex["codes"]
        assert text[-1] == eos and eos not in text[:-1]
        # Codebook 1 of the synthetic codes is the phone id of each frame: the crop's frames spell
        # exactly the crop's phones, in order, none missing or extra.
        assert runs(codes[:, 0].tolist()) == text[:-1]
        total = cut.duration
        if len(codes) / FRAME_RATE < total - 0.05:
            seen_partial += 1
            if model_type == "ar":
                assert len(codes) / FRAME_RATE <= 1.6 + 1 / FRAME_RATE
        if model_type == "nar":
            prompt = ex["prompt"]
            assert 0 < len(prompt) <= round(0.5 * FRAME_RATE)
            # Codebook 2 is the frame index in the recording: prompt and target never share a frame,
            # and the prompt is one contiguous piece of the same recording.
            target_frames, prompt_frames = set(codes[:, 1].tolist()), prompt[:, 1].tolist()
            assert target_frames.isdisjoint(prompt_frames)
            assert prompt_frames == list(range(prompt_frames[0], prompt_frames[0] + len(prompt_frames)))
            assert 1 <= ex["stage"] <= 7
    assert seen_partial > 5


def test_crops_are_deterministic_per_epoch(data, cuts):
    ids = read_phone_table(data["phones"])
    ds = ValleDataset(ids, "nar", CropConfig(0.8, 1.6, 0.5), seed=1)
    a = [ds.example(c) for c in cuts]
    b = [ds.example(c) for c in cuts]
    assert all(x["text"] == y["text"] and (x["prompt"] == y["prompt"]).all() for x, y in zip(a, b))
    ds.set_epoch(1)
    c = [ds.example(c) for c in cuts]
    assert sum(x["text"] != y["text"] for x, y in zip(a, c)) > 5
    stages = {x["stage"] for x in a + c}
    assert stages == set(range(1, 8))


def test_collation_and_padding(data, cuts):
    ids = read_phone_table(data["phones"])
    ds = ValleDataset(ids, "nar", CropConfig(0.8, 1.6, 0.5), seed=1)
    batch_cuts = cuts.subset(first=5)
    batch = ds[batch_cuts]
    examples = [ds.example(c) for c in batch_cuts]
    B = 5
    assert batch["text"].shape == (B, max(len(e["text"]) for e in examples))
    assert batch["codes"].shape == (B, max(len(e["codes"]) for e in examples), 8)
    for b, e in enumerate(examples):
        n, t, p = len(e["text"]), len(e["codes"]), len(e["prompt"])
        assert batch["text_lens"][b] == n and batch["code_lens"][b] == t and batch["prompt_lens"][b] == p
        assert batch["text"][b, :n].tolist() == e["text"] and (batch["text"][b, n:] == 0).all()
        assert torch.equal(batch["codes"][b, :t], torch.from_numpy(e["codes"].astype("int64")))
        assert (batch["codes"][b, t:] == 0).all() and (batch["prompt"][b, p:] == 0).all()
    assert batch["cut_ids"] == [c.id for c in batch_cuts]


def test_ar_examples_have_no_prompt(data, cuts):
    ds = ValleDataset(read_phone_table(data["phones"]), "ar", CropConfig(0.8, 1.6, 0.5))
    batch = ds[cuts.subset(first=3)]
    assert (batch["prompt_lens"] == 0).all()


@pytest.mark.parametrize("unit", ["seconds", "tokens"])
def test_bucketing_sampler_honours_num_buckets_and_cropped_sizes(cuts, unit):
    crop_max = 1.5
    max_batch = 6.0 if unit == "seconds" else 6.0 * FRAME_RATE
    con = CropAwareConstraint(max_duration=max_batch, max_crop_seconds=crop_max, unit=unit)
    for num_buckets in (2, 4):
        sampler = DynamicBucketingSampler(cuts, constraint=con, num_buckets=num_buckets, shuffle=True, seed=0)
        batches = list(sampler)
        assert len(sampler.duration_bins) == num_buckets - 1
        assert sorted(c.id for b in batches for c in b) == sorted(c.id for c in cuts)
        for b in batches:
            sizes = [con.measure_length(c) for c in b]
            # lhotse closes a batch once one more example of its longest size would not fit: all but the last
            # example fit (the last may be longer than the ones before, within its bucket).
            assert len(b) == 1 or (len(b) - 1) * max(sizes[:-1]) <= max_batch
    # Sizes are measured after cropping: a long cut counts as crop_max seconds.
    longest = max(cuts, key=lambda c: c.duration)
    assert longest.duration > crop_max
    assert CropAwareConstraint(max_duration=10, max_crop_seconds=crop_max).measure_length(longest) == crop_max


def test_distributed_ranks_get_disjoint_batches(cuts):
    con = CropAwareConstraint(max_duration=4.0, max_crop_seconds=1.5)
    per_rank = []
    for rank in range(2):
        s = DynamicBucketingSampler(cuts, constraint=con, num_buckets=2, shuffle=True, seed=0, world_size=2,
                                    rank=rank)
        per_rank.append([c.id for b in s for c in b])
    assert per_rank[0] and per_rank[1] and set(per_rank[0]).isdisjoint(per_rank[1])


def test_unknown_phone_is_a_clear_error(data, cuts):
    ids = dict(read_phone_table(data["phones"]))
    del ids["p3"]
    ds = ValleDataset(ids, "ar", CropConfig(100, 100))
    with pytest.raises(ValueError, match=r"phone 'p3' is not in the phone table"):
        for c in cuts:
            ds.example(c)


def test_codes_are_read_on_the_recording_timeline(tmp_path):
    """A stage-4 cut that starts 10 s into its recording: its codes array starts there too, and the example's
    frames are counted from the array's first frame (a read relative to the cut would be 10 s off)."""
    import numpy as np
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.serialization import deserialize_item

    from valle.data.tts_data import make_example

    codes = np.zeros((300, 8), dtype=np.int16)
    codes[:, 1] = np.arange(300)
    with NumpyHdf5Writer(tmp_path / "codes.h5") as w:
        array = w.store_array("r", codes, frame_shift=1 / FRAME_RATE, temporal_dim=0, start=10.0)
    sup = {"id": "s", "recording_id": "r", "start": 11.0, "duration": 1.0,
           "alignment": {"tts_phone": [["a", 11.0, 0.4], ["b", 11.4, 0.6]]}}
    example, reason = make_example({"id": "r", "supervisions": [sup]}, [sup], array.to_dict())
    assert reason == "kept" and example["custom"]["phone_frames"] == "75 105 150"
    out = ValleDataset({"a": 1, "b": 2}, "ar", CropConfig(100, 100)).example(deserialize_item(example))
    assert out["codes"][:, 1].tolist() == list(range(75, 150)) and out["text"][:2] == [1, 2]
