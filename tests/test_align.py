"""Stage 3 building blocks: graphs on a toy lexicon, the engine contract, toy-corpus alignment, helpers."""

import numpy as np
import pytest
import torch

from valle.align.engine import KaldiEngine, fst_arcs, get_engine, k2_available
from valle.align.config import AlignConfig, GmmConfig
from valle.align.gmm import train_gmm
from valle.align.hmm import HmmSystem, equal_alignment
from valle.align.pipeline import boundary_time, collapse_repeats, words_from_phones
from valle.align.textgrid import read_textgrid, write_textgrid

PHONES = ["<eps>", "SIL", "SPN", "a", "b", "c", "d", "#0"]
WORDS = ["<eps>", "!SIL", "<UNK>", "AB", "CD", "ABC", "DA", "#0"]
LEXICON = {"!SIL": [("SIL",)], "<UNK>": [("SPN",)], "AB": [("a", "b")], "CD": [("c", "d")],
           "ABC": [("a", "b", "c")], "DA": [("d", "a"), ("d", "b")]}


def toy_system(topology="3state"):
    return HmmSystem({p: i for i, p in enumerate(PHONES)}, {w: i for i, w in enumerate(WORDS)}, LEXICON, topology)


def _relax_epsilons(score, eps_arcs):
    changed = True
    while changed:
        changed = False
        for s, d, _, _, c in eps_arcs:
            if score.get(int(s), -np.inf) - c > score.get(int(d), -np.inf) + 1e-9:
                score[int(d)] = score[int(s)] - c
                changed = True
    return score


def best_score(graph, loglikes, labels=None):
    """Brute-force Viterbi score over the graph's arcs (input epsilons followed between frames), optionally
    restricted to one label sequence: the engine contract's oracle."""
    arcs, finals, start = fst_arcs(graph)
    eps, emit = arcs[arcs[:, 2] == 0], arcs[arcs[:, 2] != 0]
    score = _relax_epsilons({start: 0.0}, eps)
    for t in range(len(loglikes)):
        new = {}
        for s, d, i, o, c in emit:
            if labels is not None and int(i) != labels[t]:
                continue
            if int(s) in score:
                v = score[int(s)] - c + loglikes[t, int(i) - 1]
                if v > new.get(int(d), -np.inf):
                    new[int(d)] = v
        score = _relax_epsilons(new, eps)
    return max(v - finals[s] for s, v in score.items())


def test_toy_graph_accepts_the_lexicon_and_optional_silence():
    hmm = toy_system()
    g = hmm.training_graph(["AB", "CD"])
    assert g.num_states > 0
    # 2 words x 2 phones x 3 states: 12 frames is the shortest path; 11 is impossible.
    assert equal_alignment(g, 11) is None
    ali = equal_alignment(g, 12)
    assert [hmm.id2phone[s.phone] for s in hmm.segments_from_alignment(ali)] == ["a", "b", "c", "d"]
    # longer alignments may put silence between or around the words
    labels = {tuple(hmm.id2phone[s.phone] for s in hmm.segments_from_alignment(equal_alignment(g, 40, seed)))
              for seed in range(20)}
    assert all(tuple(p for p in lab if p != "SIL") == ("a", "b", "c", "d") for lab in labels)
    assert any("SIL" in lab for lab in labels)
    with pytest.raises(KeyError):
        hmm.training_graph(["AB", "NOPE"])


@pytest.mark.parametrize("topology", ["3state", "1state"])
def test_kaldi_engine_finds_the_best_path(topology):
    hmm = toy_system(topology)
    g = hmm.with_transition_probs(hmm.training_graph(["DA", "AB"]), 1.0, 0.1)
    rng = np.random.default_rng(0)
    T = 16
    ll = rng.normal(0, 3, size=(T, hmm.num_tids)).astype(np.float32)
    res = KaldiEngine().align(g, ll, beams=(1000.0, 2000.0))
    assert res.tids is not None and len(res.tids) == T and not res.retried
    assert best_score(g, ll, res.tids) == pytest.approx(best_score(g, ll), abs=1e-3)
    assert res.words == [hmm.word2id["DA"], hmm.word2id["AB"]]


def test_engine_reports_failure_and_retries_wider_beam():
    hmm = toy_system()
    g = hmm.with_transition_probs(hmm.training_graph(["AB"]), 1.0, 0.1)
    res = KaldiEngine().align(g, np.zeros((4, hmm.num_tids), np.float32))  # needs >= 6 frames
    assert res.tids is None and res.reason
    assert KaldiEngine().align(g, np.zeros((0, hmm.num_tids), np.float32)).reason == "no frames"
    # Frames that strongly prefer a wrong path: the narrow beam fails, the retry beam succeeds.
    ll = np.full((30, hmm.num_tids), -50.0, np.float32)
    ok = KaldiEngine().align(g, ll, beams=(1.0, 100.0))
    assert ok.tids is not None


def test_engine_selection():
    assert get_engine("kaldi").name == "kaldi"
    with pytest.raises(ValueError):
        get_engine("openfst")
    ok, why = k2_available()
    if not ok:
        assert get_engine("auto").name == "kaldi"
        with pytest.raises(RuntimeError, match="k2"):
            get_engine("k2")


def test_k2_engine_matches_kaldi():
    ok, why = k2_available()
    if not ok:
        pytest.skip(f"k2 is not installed here ({why}); PyPI has no k2 wheel for this torch/python")
    hmm = toy_system()
    g = hmm.with_transition_probs(hmm.training_graph(["DA", "AB"]), 1.0, 0.1)
    ll = np.random.default_rng(1).normal(0, 3, size=(20, hmm.num_tids)).astype(np.float32)
    a, b = KaldiEngine().align(g, ll, (1000, 2000)), get_engine("k2").align(g, ll, (1000, 2000))
    assert best_score(g, ll, a.tids) == pytest.approx(best_score(g, ll, b.tids), abs=1e-3)


def make_toy_corpus(n_utts=60, seed=0):
    """Features drawn from one Gaussian per phone (silence included), with known phone boundaries."""
    rng = np.random.default_rng(seed)
    means = {p: rng.normal(0, 3, 39) for p in ["SIL", "a", "b", "c", "d"]}
    words = ["AB", "CD", "ABC", "DA"]
    corpus = []
    for _ in range(n_utts):
        text = list(rng.choice(words, size=rng.integers(2, 5)))
        seq = ["SIL"] + [p for w in text for p in LEXICON[w][0]] + ["SIL"]
        frames, bounds = [], []
        for p in seq:
            n = int(rng.integers(6, 15))
            bounds.append((p, len(frames), n))
            frames += [means[p] + rng.normal(0, 1, 39) for _ in range(n)]
        corpus.append((text, torch.tensor(np.array(frames), dtype=torch.float32), bounds))
    return corpus


def test_gmm_training_recovers_known_boundaries():
    hmm = toy_system()
    corpus = make_toy_corpus()
    feats = {f"u{i}": c[1] for i, c in enumerate(corpus)}
    graphs = {f"u{i}": hmm.training_graph(c[0]) for i, c in enumerate(corpus)}
    cfg = GmmConfig(num_iters=8, realign_iters=(1, 2, 3, 4, 5, 6), total_gauss=20, max_iter_inc=4)
    gmm, alignments, failures, rows = train_gmm(hmm, feats, graphs, KaldiEngine(), cfg, AlignConfig().beams)
    assert not failures and len(alignments) == len(corpus)
    assert rows[-1]["loglike_per_frame"] > rows[0]["loglike_per_frame"]
    errors = []
    for i, (_, _, bounds) in enumerate(corpus):
        segs = hmm.segments_from_alignment(alignments[f"u{i}"])
        hyp = [(hmm.id2phone[s.phone], s.start) for s in segs]
        assert [p for p, _ in hyp if p != "SIL"] == [p for p, _, _ in bounds if p != "SIL"]
        hyp_starts = [s for p, s in hyp if p != "SIL"]
        ref = [(p, s, prev) for (p, s, _), (prev, _, _) in zip(bounds[1:], bounds) if p != "SIL"]
        # A boundary between two copies of one phone ("DA AB" = d a a b) has no acoustic evidence: skip it.
        errors += [abs(s - h) for (p, s, prev), h in zip(ref, hyp_starts) if p != prev]
    errors = np.array(errors)
    assert np.median(errors) == 0 and np.mean(errors <= 2) > 0.95


def test_boundary_times_and_repeat_collapsing():
    assert boundary_time(0, 3) == 0.0
    assert boundary_time(1, 1) == pytest.approx(0.0175)  # between the centres of frames 0 and 1
    assert boundary_time(1, 3) == pytest.approx(0.0125 + 0.015)
    items = [("SIL", 0, .1), ("a", .1, .2), ("a", .2, .3), ("b", .3, .4), ("SIL", .4, .5), ("SIL", .5, .6)]
    assert collapse_repeats(items) == [("SIL", 0, .1), ("a", .1, .3), ("b", .3, .4), ("SIL", .4, .6)]
    assert collapse_repeats([]) == []


def test_word_timings_pick_the_matching_variant():
    phones = [("SIL", 0, .1), ("d", .1, .2), ("b", .2, .3), ("SIL", .3, .4), ("a", .4, .5), ("b", .5, .6)]
    assert words_from_phones(["DA", "AB"], phones, LEXICON) == [("DA", .1, .3), ("AB", .4, .6)]
    assert words_from_phones(["AB"], phones, LEXICON) is None


def test_textgrid_round_trip(tmp_path):
    tiers = {"words": [("HELLO", 0.1, 0.5), ('SAY "HI"', 0.6, 0.9)],
             "phones": [("h", 0.1, 0.2), ("ə", 0.2, 0.3), ("l", 0.3, 0.4), ("oʊ", 0.4, 0.5)]}
    path = tmp_path / "x.TextGrid"
    write_textgrid(path, tiers, 1.0)
    back, xmax = read_textgrid(path)
    assert xmax == 1.0 and list(back) == ["words", "phones"]
    for name in tiers:
        assert [(l, round(s, 4), round(e, 4)) for l, s, e in back[name]] == tiers[name]


def test_dnn_checkpoint_round_trip_and_mismatch(tmp_path):
    from valle.align.dnn import DnnConfig, TdnnAcousticModel, load_dnn, save_dnn

    model = TdnnAcousticModel(DnnConfig(hidden=16, num_layers=3), num_pdfs=7)
    x = torch.randn(1, 50, 40)
    assert model(x).shape == (1, 17, 7)  # ceil(50 / 3) output frames
    save_dnn(tmp_path / "m.pt", model, np.zeros(7, np.float32), {})
    loaded, priors, _ = load_dnn(tmp_path / "m.pt")
    model.eval()
    assert torch.allclose(loaded(x), model(x))
    ckpt = torch.load(tmp_path / "m.pt", weights_only=False)
    ckpt["format_version"] = 0
    torch.save(ckpt, tmp_path / "old.pt")
    with pytest.raises(RuntimeError, match="old.pt"):
        load_dnn(tmp_path / "old.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="bad.pt"):
        load_dnn(tmp_path / "bad.pt")


def test_speech_seconds_finds_speech_and_not_silence():
    from valle.align.pipeline import speech_seconds
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    quiet = 1e-4 * rng.normal(size=sr)  # dither-level noise
    audio = np.concatenate([quiet, tone, quiet])
    assert speech_seconds(audio) == pytest.approx(2.0, abs=0.05)
    assert speech_seconds(quiet) < 0.05
    assert speech_seconds(np.zeros(3 * sr)) == 0.0
    assert speech_seconds(np.full(3 * sr, 0.2)) == 0.0  # a DC offset is not speech
    assert speech_seconds(np.zeros(100)) == 0.0


def test_alignment_score_is_zero_on_the_best_path_and_lower_off_it():
    from valle.align.pipeline import alignment_score
    ll = np.log(np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32))
    assert alignment_score(ll, [1, 2, 3]) == pytest.approx(0.0)
    assert alignment_score(ll, [1, 1, 1]) == pytest.approx(2 * np.log(0.1 / 0.8) / 3, rel=1e-5)


def test_flagging_speechless_and_outlier_utterances():
    from valle.align.pipeline import Quality, flag_utterances
    rng = np.random.default_rng(1)
    rows = [Quality(f"u{i}", 5.0, 50, 4.0, float(-0.1 + 0.02 * rng.normal())) for i in range(40)]
    rows.append(Quality("silent", 5.0, 50, 0.0, -0.12))          # silence: no speech for 50 phones
    rows.append(Quality("swapped", 5.0, 50, 4.0, -0.6))           # another utterance's transcript
    rows.append(Quality("decoded", 5.0, 10, 4.0, None))           # unlabeled: no score
    def flags(rows, *args):
        return {q.utt: reason for q, reason in flag_utterances(lambda: iter(rows), *args)}

    flagged = flags(rows, 0.03, 5.0)
    assert set(flagged) == {"silent", "swapped"}
    assert flagged["silent"].startswith("too little speech for its transcript: 0.00 s") and "1.50 s" in flagged["silent"]
    assert flagged["swapped"].startswith("alignment score an outlier: -0.600")
    assert Quality.from_line(rows[-1].to_line()) == rows[-1]
    assert set(flags(rows, 0.03, 0.0)) == {"silent"}  # 0 turns the outlier check off
    assert set(flags(rows, 0.03, 5.0, 0.6)) == {"silent"}  # -0.6 is 5 SDs but not 0.6 below the median
    assert set(flags(rows[-5:], 0.03, 5.0)) == {"silent"}  # too few utterances for the statistics
    # Word decodes carry their graph cost per word: above the limit (noise decoded as a word or two) is flagged.
    noise = Quality("noise", 3.0, 4, 1.0, -0.19, 24.4)
    assert Quality.from_line(noise.to_line()) == noise
    words = rows[:40] + [noise, Quality("speech", 3.0, 30, 2.5, -0.08, 6.7)]
    flagged = flags(words, 0.03, 5.0, 0.2, 20, 15.0)
    assert set(flagged) == {"noise"} and flagged["noise"].startswith("decode not confident: graph cost 24.4")
    assert not flags(words, 0.03, 5.0, 0.2, 20, 0.0)  # 0 turns it off


def test_dropping_flagged_supervisions_keeps_their_span_as_unaligned():
    from valle.align.pipeline import drop_supervisions
    cut = {"id": "c", "supervisions": [{"id": "a", "start": 0.0, "duration": 1.0},
                                       {"id": "b", "start": 2.0, "duration": 1.5}], "custom": {"unaligned": [[5.0, 1.0]]}}
    out = drop_supervisions(cut, {"b": "why"})
    assert [s["id"] for s in out["supervisions"]] == ["a"]
    assert out["custom"]["unaligned"] == [[2.0, 1.5], [5.0, 1.0]]
    assert drop_supervisions(cut, {"x": "why"}) is cut
    assert drop_supervisions(cut, {"a": "", "b": ""}) is None


def test_dnn_lr_schedule_is_one_cycle_and_survives_epochs_of_uneven_chunking():
    """The chunk count changes from epoch to epoch (random cut points; short pieces dropped). The schedule
    used to be a OneCycleLR whose total came from one cut, and stepped past it in a later epoch (stage 3
    crashed in its last DNN epoch on an LJSpeech-style corpus)."""
    import random

    from valle.align.dnn import DnnConfig, _chunks, one_cycle_lr, train_dnn

    # OneCycleLR's shape: cosine up from max / 25 to max at 15 %, cosine down to max / 25 / 1e4.
    lrs = [one_cycle_lr(step / 1000, 2e-3) for step in range(1001)]
    assert lrs[0] == pytest.approx(2e-3 / 25) and max(lrs) == pytest.approx(2e-3) == lrs[150]
    assert lrs[-1] == pytest.approx(2e-3 / 25 / 1e4)
    assert all(a < b for a, b in zip(lrs[:150], lrs[1:151])) and all(a > b for a, b in zip(lrs[150:], lrs[151:]))
    assert one_cycle_lr(1.5, 2e-3) == lrs[-1]  # past the end it stays at the end

    # Utterances of 48-55 frames in chunks of 30, cut at a random offset: a piece shorter than 12 frames is
    # dropped, so the number of chunks depends on the offsets drawn. With these, the old schedule's total
    # (4 epochs x 16 batches of the first cut, + 1) was 65 and training stepped 66 times.
    cfg = DnnConfig(hidden=16, num_layers=3, epochs=4, chunk_frames=30, batch_frames=30)
    rng = np.random.default_rng(0)
    items = {f"u{i}": (torch.randn(48 + i, 40), rng.integers(0, 5, 48 + i)) for i in range(8)}
    counts = {len(_chunks(list(items.values()), cfg, random.Random(seed))) for seed in range(20)}
    assert len(counts) > 1, counts
    model, priors, history = train_dnn(items, num_pdfs=5, cfg=cfg)
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    assert len({row["batches"] for row in history}) > 1  # the epochs really had different batch counts
    lrs = [row["lr"] for row in history]  # the last batch's learning rate of each epoch
    assert lrs[0] > lrs[1] > lrs[2] > lrs[3] and lrs[3] < 2e-3 / 25 / 10
