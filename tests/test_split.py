"""Kaldi's split_data.sh / combine_data.sh for lhotse manifests (valle/data/split.py), and the per-file
output of stage 3 (a failed segment drops only itself)."""
import gzip
import json

import pytest
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.audio import AudioSource

from valle.align.pipeline import UtteranceAlignment, aligned_cut
from valle.align.stage import SubsetChooser, TextIndex
from valle.data.split import combine_cuts, iter_cuts, split_cuts


def make_cuts(speakers, per_speaker, segs=1):
    cuts = []
    for s in speakers:
        for i in range(per_speaker):
            cid = f"{s}-{i:03d}"
            rec = Recording(cid, [AudioSource("file", [0], f"/x/{cid}.flac")], 16000, 16000 * 10 * segs, 10.0 * segs)
            sups = [SupervisionSegment(f"{cid}_{k}", cid, 10.0 * k, 9.0, channel=0, speaker=s, text=f"T {cid} {k}")
                    for k in range(segs)]
            cuts.append(MonoCut(cid, 0.0, 10.0 * segs, 0, recording=rec, supervisions=sups))
    return cuts


def lines(path):
    with gzip.open(path, "rt") as f:
        return [json.loads(l) for l in f]


@pytest.mark.parametrize("num_splits", [1, 3, 7])
def test_split_keeps_speakers_together_and_combine_gives_the_manifest_back(tmp_path, num_splits):
    cuts = make_cuts([f"spk{i}" for i in range(5)], per_speaker=4)
    src = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(src)
    pieces = [tmp_path / f"piece.{j}.jsonl.gz" for j in range(1, num_splits + 1)]
    counts = split_cuts(src, num_splits, pieces)
    assert sum(counts) == 20 and len(counts) == num_splits
    owner = {}
    for j, p in enumerate(pieces):
        for c in iter_cuts(p):
            assert owner.setdefault(c.supervisions[0].speaker, j) == j  # each speaker in one piece
    if num_splits <= 5:
        assert all(n > 0 for n in counts) and max(counts) - min(counts) <= 4  # balanced by duration
    else:
        assert counts.count(0) >= num_splits - 5  # fewer speakers than pieces: some pieces are empty
    assert combine_cuts(pieces, tmp_path / "joined.jsonl.gz") == 20
    assert lines(tmp_path / "joined.jsonl.gz") == lines(src)


def test_split_transform_and_text_index(tmp_path):
    cuts = make_cuts(["a", "b"], per_speaker=2)
    src = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(src)
    text = tmp_path / "text.txt"
    text.write_text("a-000_0 HELLO WORLD\nb-001_0 GOOD  DAY\n")
    index = TextIndex(text, tmp_path / "t.sqlite")
    from dataclasses import replace
    split_cuts(src, 2, [tmp_path / "p.1.jsonl.gz", tmp_path / "p.2.jsonl.gz"],
               lambda c, k: replace(c, supervisions=[replace(s, text=index.get(s.id)) for s in c.supervisions]))
    index.close()
    assert not (tmp_path / "t.sqlite").exists()
    got = {s.id: s.text for p in ("p.1", "p.2") for c in iter_cuts(tmp_path / f"{p}.jsonl.gz") for s in c.supervisions}
    assert got == {"a-000_0": "HELLO WORLD", "a-001_0": "", "b-000_0": "", "b-001_0": "GOOD  DAY"}


def test_subset_does_not_depend_on_the_order_offered():
    sups = [s for c in make_cuts([f"s{i}" for i in range(6)], per_speaker=10) for s in c.supervisions]
    a, b = SubsetChooser(15), SubsetChooser(15)
    for s in sups:
        a.offer("train", s, s.recording_id)
    for s in reversed(sups):
        b.offer("train", s, s.recording_id)
    assert sorted(a.chosen()) == sorted(b.chosen()) and len(a.chosen()) == 15 and a.seen == 60


def test_a_failed_segment_drops_only_itself():
    (cut,) = make_cuts(["s"], per_speaker=1, segs=3)
    ok = UtteranceAlignment([("SIL", 0.0, 4.0), ("AH", 4.0, 9.0)], None, [1, 2], False, "")
    failed = UtteranceAlignment(None, None, None, False, "no path to a final state within beam 10")
    kept = aligned_cut(cut, {"s-000_0": ok, "s-000_1": failed, "s-000_2": ok})
    assert [s.id for s in kept.supervisions] == ["s-000_0", "s-000_2"]
    assert kept.supervisions[1].alignment["phone"][0].start == pytest.approx(20.0)  # offset by the segment start
    assert [a.symbol for a in kept.supervisions[0].alignment["tts_phone"]] == ["SIL", "AH"]
    # Its span is kept: the training-data build must not join s-000_0 and s-000_2 over its speech.
    failed_sup = cut.supervisions[1]
    assert kept.custom["unaligned"] == [[failed_sup.start, failed_sup.duration]]
    assert aligned_cut(cut, {"s-000_0": ok, "s-000_1": ok, "s-000_2": ok}).custom is None
    assert aligned_cut(cut, {"s-000_1": failed}) is None
