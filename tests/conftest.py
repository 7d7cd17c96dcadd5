import os
import subprocess
from pathlib import Path

import pytest

from valle.corpus.mini.build import build_mini_corpus
from valle.corpus.mini.config import MiniCorpusConfig
from valle.utils.settings import format_value, iter_values

REPO = Path(__file__).resolve().parent.parent

# A corpus small enough for tests (a few seconds to build) with every layout feature of the real one.
TINY_CONFIG = MiniCorpusConfig(
    seed=7, train_speakers=8, train_utts_per_speaker=4, dev_speakers=1, dev_utts_per_speaker=2,
    test_speakers=2, test_utts_per_speaker=2, unlabeled_speakers=(1, 1, 1),
    unlabeled_files_per_speaker=1, unlabeled_sentences_per_file=3)

# The same corpus as a recipe conf (the mini_* settings), for run.sh.
TINY_CONF_SH = "\n" + "".join(f'{s.name}="{format_value(v)}"\n' for s, v in iter_values(TINY_CONFIG, "mini_"))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A tiny mini corpus, built once per test session. Tests must not modify it."""
    out = tmp_path_factory.mktemp("tiny_corpus")
    build_mini_corpus(out, TINY_CONFIG, num_jobs=2)
    return out


@pytest.fixture
def tiny_conf(tmp_path) -> Path:
    conf = tmp_path / "tiny_conf.sh"
    conf.write_text(TINY_CONF_SH)
    return conf


def run_recipe(*args, cwd=None, check=True, timeout=600, env=None) -> subprocess.CompletedProcess:
    """Run ./run.sh with ``args`` (in ``env``, default this process's); stdout and stderr together in .stdout."""
    env = dict(env or os.environ)
    proc = subprocess.run([str(REPO / "run.sh"), *map(str, args)], cwd=cwd or REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.sh {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-5000:]}")
    return proc


def recipe_dirs(tmp_path: Path):
    """--data-dir/--exp-dir options that keep a test's artifacts in its tmp dir."""
    return ["--data-dir", tmp_path / "data", "--exp-dir", tmp_path / "exp"]


SMALL_ALIGN = TINY_CONF_SH + """
gmm_num_iters=12
gmm_total_gauss=150
dnn_epochs=10
"""


@pytest.fixture(scope="session")
def aligned_recipe(tmp_path_factory):
    """Stages 0-3 on the tiny corpus with two sabotaged transcripts (shared by the stage 2-3 and 4-6 tests)."""
    tmp = tmp_path_factory.mktemp("stage23")
    conf = tmp / "conf.sh"
    conf.write_text(SMALL_ALIGN)
    common = ["--conf", conf, *recipe_dirs(tmp)]
    run_recipe("--stage", 0, "--stop-stage", 2, *common)
    lang = tmp / "data" / "lang"
    # Two bad transcripts: a word the lexicon lacks, and a transcript far too long for its audio.
    dev = (lang / "text" / "dev-clean.txt").read_text().splitlines()
    dev[0] += " QQQZZZWORD"
    (lang / "text" / "dev-clean.txt").write_text("\n".join(dev) + "\n")
    test = (lang / "text" / "test-clean.txt").read_text().splitlines()
    uid, words = test[0].split(" ", 1)
    test[0] = uid + " " + " ".join([words] * 12)
    (lang / "text" / "test-clean.txt").write_text("\n".join(test) + "\n")
    # One job: the split-job tests compare their --nj 2 and --nj 3 runs against it.
    out = run_recipe("--stage", 3, "--stop-stage", 3, "--nj", 1, *common).stdout
    return tmp, common, out, dev[0].split()[0], uid


def make_training_data(root: Path, num_cuts: int = 24, seed: int = 0, long_cut: bool = True, speakers: int = 1,
                       shard_size: int = 8) -> dict:
    """Stage-2/3/4-shaped artifacts without running stages 0-4: phones.txt, aligned cuts (tts_phone
    alignments on the recording timeline) and token cuts with HDF5 codes; then the training-data build of them
    (``tts``: shards of ``shard_size`` examples, validation = the same cuts).

    The codes tell where they came from: codebook 1 holds the id of the phone the frame lies in (SIL
    between segments), codebook 2 the frame's index in its recording, the others random values. With
    ``long_cut`` one more recording holds three supervisions (a LibriLight-like file). The cuts are in speaker
    order, ``speakers`` speakers. Returns the paths.
    """
    from valle.data.config import TtsDataConfig
    from valle.data.tts_data import build_tts_data

    import random as _random

    import numpy as np
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.supervision import AlignmentItem

    rng = _random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    phones = ["SIL"] + [f"p{i}" for i in range(12)]
    (root / "phones.txt").write_text("<eps> 0\n" + "".join(f"{p} {i + 1}\n" for i, p in enumerate(phones))
                                     + "#0 14\n")
    ids = {p: i + 1 for i, p in enumerate(phones)}

    def segment(start):
        items, t = [], start
        for _ in range(rng.randint(6, 40)):
            p = rng.choice(phones)
            if items and items[-1].symbol == p:
                continue
            d = round(rng.uniform(0.05, 0.25), 4)
            items.append(AlignmentItem(symbol=p, start=round(t, 4), duration=d))
            t += d
        return items, t

    aligned, tokens = [], []
    with NumpyHdf5Writer(root / "codes.h5") as writer:
        specs = [[0.0] for _ in range(num_cuts)] + ([[0.3, 0.0, 0.5]] if long_cut else [])
        for n, gaps in enumerate(specs):
            rec_id = f"rec{n:03d}"
            speaker = f"spk{min(n, num_cuts - 1) * speakers // num_cuts:02d}"
            sups, t = [], 0.0
            for s, gap in enumerate(gaps):
                items, end = segment(t + gap)
                sups.append(SupervisionSegment(id=f"{rec_id}-{s}", recording_id=rec_id, start=items[0].start,
                                               duration=round(end - items[0].start, 4), speaker=speaker,
                                               alignment={"tts_phone": items}))
                t = end
            duration = round(t + 0.1, 4)
            num_frames = int(round(duration * 75))
            codes = np.array([[rng.randrange(1024) for _ in range(8)] for _ in range(num_frames)], dtype=np.int16)
            codes[:, 1] = np.arange(num_frames) % 1024
            codes[:, 0] = ids["SIL"]
            for sup in sups:
                for it in sup.alignment["tts_phone"]:
                    codes[int(round(it.start * 75)):int(round(it.end * 75)), 0] = ids[it.symbol]
            rec = Recording(id=rec_id, sources=[], sampling_rate=24000, num_samples=int(duration * 24000),
                            duration=duration)
            cut = MonoCut(id=rec_id, start=0.0, duration=duration, channel=0, recording=rec, supervisions=sups)
            aligned.append(cut)
            tcut = MonoCut(id=rec_id, start=0.0, duration=duration, channel=0, recording=rec)
            tcut.codes = writer.store_array(rec_id, codes, frame_shift=1 / 75, temporal_dim=0)
            tokens.append(tcut)
    CutSet.from_cuts(aligned).to_file(root / "aligned.jsonl.gz")
    CutSet.from_cuts(tokens).to_file(root / "tokens.jsonl.gz")
    out = {"phones": root / "phones.txt", "aligned": root / "aligned.jsonl.gz", "tokens": root / "tokens.jsonl.gz",
           "tts": root / "tts"}
    build_tts_data([out["aligned"]], [out["tokens"]], out["tts"], [out["aligned"]], [out["tokens"]],
                   TtsDataConfig(shard_size=shard_size))
    return out


def make_random_recipe(root: Path, ar_group_size: int = 1) -> Path:
    """What synthesis reads, with random weights (``valle/infer/random_recipe.py``): exp/{ar,nar}/model.pt (a 1-layer
    model of 32 dims; the AR's grouped code modelling ``ar_group_size``), data/tokens/codec.pt (a random EnCodec),
    data/lang (a six-word IPA lexicon: HELLO WORLD CAT TELL), and a 3.5 s stereo 44.1 kHz prompt.wav."""
    from valle.infer.random_recipe import write_random_recipe
    return write_random_recipe(root, ar_group_size=ar_group_size)
