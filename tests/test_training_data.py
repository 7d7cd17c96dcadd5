"""Training data: joining stages 3 and 4, crops at phone boundaries, NAR prompts, collation, bucketing."""
import random

import pytest
import torch
from lhotse import CutSet, load_manifest
from lhotse.dataset import DynamicBucketingSampler

from conftest import make_training_data
from valle.data.dataset import FRAME_RATE, CropAwareConstraint, CropConfig, ValleDataset, choose_crop, load_training_cuts
from valle.models.config import text_vocab_size
from valle.text.lang_dir import read_phone_table


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_training_data(tmp_path_factory.mktemp("train_data"), num_cuts=24, seed=3)


@pytest.fixture(scope="module")
def cuts(data):
    cuts, stats = load_training_cuts([data["aligned"]], [data["tokens"]])
    return cuts


def runs(seq):
    """Consecutive distinct values."""
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def test_join_one_example_per_supervision(data, cuts, tmp_path):
    assert len(cuts) == 24 + 3
    long_ones = [c for c in cuts if c.id.startswith("rec024")]
    assert sorted(c.id for c in long_ones) == ["rec024#rec024-0", "rec024#rec024-1", "rec024#rec024-2"]
    for c in long_ones:
        sup = c.supervisions[0]
        assert abs(c.duration - sup.duration) < 1e-3 and c.custom["codes_origin"] == 0.0
    # Cuts without codes, and supervisions without alignment, are counted and left out.
    aligned = load_manifest(data["aligned"])
    tokens = load_manifest(data["tokens"]).filter(lambda c: c.id != "rec000")
    broken = []
    for c in aligned:
        if c.id == "rec001":
            c.supervisions[0].alignment = None
        broken.append(c)
    CutSet.from_cuts(broken).to_file(tmp_path / "a.jsonl.gz")
    tokens.to_file(tmp_path / "t.jsonl.gz")
    joined, stats = load_training_cuts([tmp_path / "a.jsonl.gz"], [tmp_path / "t.jsonl.gz"])
    assert stats == {"kept": 25, "no codes (stage 4)": 1, "no tts_phone alignment": 1}
    assert {c.id for c in joined}.isdisjoint({"rec000", "rec001"})


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
            assert len(b) * max(sizes) <= max_batch or len(b) == 1
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
