import os
import subprocess
from pathlib import Path

import pytest

from valle.data.mini_corpus import MiniCorpusConfig, build_mini_corpus

REPO = Path(__file__).resolve().parent.parent

# A corpus small enough for tests (a few seconds to build) with every layout feature of the real one.
TINY_CONFIG = MiniCorpusConfig(
    seed=7, train_speakers=8, train_utts_per_speaker=4, dev_speakers=1, dev_utts_per_speaker=2,
    test_speakers=2, test_utts_per_speaker=2, unlabeled_speakers=(1, 1, 1),
    unlabeled_files_per_speaker=1, unlabeled_sentences_per_file=3)

TINY_CONF_SH = """
mini_seed=7
mini_train_speakers=8
mini_train_utts_per_speaker=4
mini_dev_speakers=1
mini_dev_utts_per_speaker=2
mini_test_speakers=2
mini_test_utts_per_speaker=2
mini_unlabeled_speakers="1 1 1"
mini_unlabeled_files_per_speaker=1
mini_unlabeled_sentences_per_file=3
"""


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


def run_recipe(*args, cwd=None, check=True, timeout=600) -> subprocess.CompletedProcess:
    """Run ./run.sh with ``args``; stdout and stderr together in .stdout."""
    env = dict(os.environ)
    proc = subprocess.run([str(REPO / "run.sh"), *map(str, args)], cwd=cwd or REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"run.sh {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-5000:]}")
    return proc


def recipe_dirs(tmp_path: Path):
    """--data-dir/--exp-dir options that keep a test's artifacts in its tmp dir."""
    return ["--data-dir", tmp_path / "data", "--exp-dir", tmp_path / "exp"]
