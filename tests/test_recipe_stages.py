"""run.sh stage selection, .done markers, --force, interruption, and stage input checks."""
import os
import signal
import subprocess
import time

import pytest

from conftest import REPO, recipe_dirs, run_recipe
from valle.corpus.mini.config import MiniCorpusConfig

pytestmark = pytest.mark.e2e  # runs run.sh / the stage scripts on the tiny corpus


def mtimes(directory):
    return {p.name: p.stat().st_mtime_ns for p in directory.iterdir() if p.is_file()}


def test_stage_selection_rerun_and_force(tmp_path, tiny_conf):
    common = ["--conf", tiny_conf, *recipe_dirs(tmp_path)]
    manifests = tmp_path / "data" / "manifests"
    download = tmp_path / "data" / "download"

    out = run_recipe("--stage", 0, "--stop-stage", 0, *common).stdout
    assert "Stage 0:" in out and "Stage 1:" not in out
    assert (tmp_path / "data" / ".corpora.done").is_file() and not manifests.exists()
    assert not (download / ".done").exists()  # the corpus folder is not the recipe's to mark

    out = run_recipe("--stage", 1, "--stop-stage", 1, *common).stdout
    assert "Stage 0:" not in out and "Stage 1:" in out
    assert (manifests / ".done").is_file()
    assert "librispeech  train-clean-100" in out  # the summary table is printed
    before = mtimes(manifests)
    corpus_before = (download / "MINI_CORPUS.json").stat().st_mtime_ns

    # Rerunning finished stages does nothing.
    out = run_recipe("--stage", 0, "--stop-stage", 1, *common).stdout
    assert "Stage 0 already done" in out and "Stage 1 already done" in out
    assert mtimes(manifests) == before
    assert (download / "MINI_CORPUS.json").stat().st_mtime_ns == corpus_before

    # --force redoes the selected stage only.
    out = run_recipe("--stage", 1, "--stop-stage", 1, "--force", *common).stdout
    assert "already done" not in out
    after = mtimes(manifests)
    assert set(after) == set(before)
    assert all(after[name] > before[name] for name in before if name.endswith(".jsonl.gz"))
    assert (download / "MINI_CORPUS.json").stat().st_mtime_ns == corpus_before
    assert sorted(os.listdir(tmp_path / "exp" / "log")) == [
        "stage0_corpus.log", "stage1_manifests_librilight.log", "stage1_manifests_librispeech.log"]


def test_redoing_a_stage_invalidates_the_later_ones(tmp_path, tiny_conf):
    common = ["--conf", tiny_conf, *recipe_dirs(tmp_path)]
    run_recipe("--stage", 0, "--stop-stage", 1, *common)
    out = run_recipe("--stage", 0, "--stop-stage", 0, "--force", *common).stdout
    assert "stage 1 must be redone too" in out
    assert not (tmp_path / "data" / "manifests" / ".done").exists()
    out = run_recipe("--stage", 1, "--stop-stage", 1, *common).stdout
    assert "already done" not in out and (tmp_path / "data" / "manifests" / ".done").is_file()


def test_stage_without_its_inputs_names_the_stage_that_makes_them(tmp_path, tiny_conf):
    p = run_recipe("--stage", 1, "--stop-stage", 1, "--conf", tiny_conf, *recipe_dirs(tmp_path), check=False)
    assert p.returncode != 0
    assert "it is made by stage 0" in p.stdout
    assert not (tmp_path / "data" / "manifests" / ".done").exists()


@pytest.mark.parametrize("stage,needs", [(2, "stage 1"), (3, "stage 2"), (4, "stage 1"),
                                         (5, "stage 4"), (6, "stage 4"), (7, "stage 6")])
def test_later_stages_check_their_inputs(tmp_path, stage, needs):
    p = run_recipe("--stage", stage, "--stop-stage", stage, *recipe_dirs(tmp_path), check=False)
    assert p.returncode != 0
    assert f"it is made by {needs}" in p.stdout


def test_interrupted_stage_is_not_marked_done(tmp_path, tiny_conf):
    common = ["--conf", tiny_conf, *recipe_dirs(tmp_path)]
    run_recipe("--stage", 0, "--stop-stage", 0, *common)
    log = tmp_path / "exp" / "log" / "stage1_manifests_librispeech.log"
    proc = subprocess.Popen([str(REPO / "run.sh"), "--stage", "1", "--stop-stage", "1", *map(str, common)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not log.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "stage 1 ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # as hard as it gets: no cleanup handlers run
    proc.wait()
    manifests = tmp_path / "data" / "manifests"
    assert not (manifests / ".done").exists()
    # Whatever was written is complete: every manifest there loads.
    from lhotse import load_manifest
    for f in manifests.glob("*.jsonl.gz") if manifests.exists() else []:
        load_manifest(f)
    # The next run redoes the stage instead of skipping it.
    out = run_recipe("--stage", 1, "--stop-stage", 1, *common).stdout
    assert "already done" not in out and (manifests / ".done").is_file()


def test_failing_stage_is_not_marked_done_and_recovers(tmp_path, tiny_conf):
    """Stage 0 marked done, but the corpus vanished: stage 1 fails, and says which stage to redo."""
    common = ["--conf", tiny_conf, *recipe_dirs(tmp_path)]
    run_recipe("--stage", 0, "--stop-stage", 0, *common)
    corpus = tmp_path / "data" / "download" / "LibriSpeech"
    corpus.rename(tmp_path / "moved")
    p = run_recipe("--stage", 1, "--stop-stage", 1, *common, check=False)
    assert p.returncode != 0 and "run: " in p.stdout and "--stage 0" in p.stdout
    assert not (tmp_path / "data" / "manifests" / ".done").exists()
    run_recipe("--stage", 0, "--stop-stage", 1, "--force", *common)
    assert (tmp_path / "data" / "manifests" / ".done").is_file()


def test_relative_paths_are_taken_from_the_callers_directory(tmp_path, tiny_conf):
    run_recipe("--stage", 0, "--stop-stage", 0, "--conf", tiny_conf.name, "--data-dir", "d", "--exp-dir", "e",
               cwd=tmp_path)
    assert (tmp_path / "d" / ".corpora.done").is_file()
    assert (tmp_path / "e" / "log" / "stage0_corpus.log").is_file()
    assert not (REPO / "d").exists()


@pytest.mark.slow
def test_default_mini_stages_0_1(tmp_path):
    """The README's main job at its default size, stages 0-1: corpus summary printed."""
    out = run_recipe("--stage", 0, "--stop-stage", 1, *recipe_dirs(tmp_path)).stdout
    assert "total" in out and "skipped audio files of librispeech: 0" in out
    rows = {tuple(l.split()[:2]): l.split() for l in out.splitlines() if l.startswith(("librispeech", "librilight"))}
    size = MiniCorpusConfig()  # egs/mini's size is the default one
    assert int(rows["librispeech", "train-clean-100"][2]) == size.train_speakers * size.train_utts_per_speaker
    assert int(rows["librispeech", "train-clean-100"][4]) == size.train_speakers
    assert int(rows["librispeech", "test-clean"][4]) == size.test_speakers
    assert {p for _, p in rows} >= {"small", "medium", "large"}
