"""The job launchers (Kaldi's contract): utils/run.pl here, utils/slurm.pl on a real one-node Slurm cluster,
and stages 3-4 as split jobs: the same outputs for any --nj and either launcher, a rerun redoes only
the jobs that did not finish."""
import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, run_recipe
from slurm_cluster import SlurmCluster, install_reason
from valle.align.stage import Parts, Stage3

RUN_PL = str(REPO / "utils" / "run.pl")
SLURM_PL = str(REPO / "utils" / "slurm.pl")


def launch(launcher, *args, cwd, env=None):
    return subprocess.run([launcher, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def check_contract(launcher: str, tmp: Path, env=None) -> None:
    """What a Kaldi user relies on: JOB in the log name and the arguments, one log per job with the command and
    its exit code, exit status 1 naming the failed job's log."""
    p = launch(launcher, "JOB=1:3", "log/hello.JOB.log", "echo", "job JOB of 3", "it's", cwd=tmp, env=env)
    assert p.returncode == 0, p.stderr
    for j in (1, 2, 3):
        log = (tmp / "log" / f"hello.{j}.log").read_text()
        assert f"job {j} of 3 it's" in log.splitlines()
        assert log.splitlines()[0].startswith("#") and "# Ended (code 0)" in log.splitlines()[-1]
    p = launch(launcher, "JOB=1:3", "log/fail.JOB.log", "test JOB -ne 2 && echo fine", cwd=tmp, env=env)
    assert p.returncode == 1
    assert "1 / 3 failed" in p.stderr and "log/fail.2.log" in p.stderr
    assert "# Ended (code 1)" in (tmp / "log" / "fail.2.log").read_text()
    assert "fine" in (tmp / "log" / "fail.3.log").read_text()
    # No JOB range: one job, one log.
    p = launch(launcher, "log/one.log", "echo single", cwd=tmp, env=env)
    assert p.returncode == 0 and "single" in (tmp / "log" / "one.log").read_text()


def test_run_pl_contract(tmp_path):
    check_contract(RUN_PL, tmp_path)


def test_run_pl_runs_at_most_max_jobs_at_once(tmp_path):
    # Each job records its start and end time; with --max-jobs-run 2 no three intervals overlap.
    p = launch(RUN_PL, "--max-jobs-run", "2", "JOB=1:5", "log/t.JOB.log",
               "python3 -c 'import time; a = time.time(); time.sleep(0.4); print(a, time.time())' > t.JOB.txt",
               cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    spans = [tuple(map(float, (tmp_path / f"t.{j}.txt").read_text().split())) for j in range(1, 6)]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, d in events:
        running += d
        peak = max(peak, running)
    assert peak == 2


def test_run_pl_rejects_bad_usage(tmp_path):
    p = launch(RUN_PL, "JOB=1:3", "log/nojob.log", "true", cwd=tmp_path)
    assert p.returncode != 0 and "must contain JOB" in p.stderr
    p = launch(RUN_PL, "--bogus", "1", "log/x.log", "true", cwd=tmp_path)
    assert p.returncode != 0 and "unknown option --bogus" in p.stderr
    # Slurm's resource options are accepted (one command line serves both launchers).
    p = launch(RUN_PL, "--mem", "2G", "--gpu", "0", "--time", "1:00:00", "--num-threads", "2", "log/x.log", "true",
               cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "threads=2" in (tmp_path / "log" / "x.log").read_text()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = install_reason()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    t0 = time.time()
    cluster.start()
    print(f"one-node Slurm up in {time.time() - t0:.1f} s")
    yield cluster
    cluster.stop()


@pytest.mark.e2e
def test_slurm_pl_contract(slurm, tmp_path):
    check_contract(SLURM_PL, tmp_path, env=slurm.env)
    assert (tmp_path / "log" / "q" / "hello.sh").is_file()  # the submitted script, as Kaldi's q/ dir


def aligned_lines(path: Path) -> list:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def copy_stages_1_2(src: Path, dst: Path) -> None:
    """Stage 1-2 outputs of a recipe dir (their manifests point at the corpus by absolute path)."""
    for d in ("manifests", "lang"):
        shutil.copytree(src / "data" / d, dst / "data" / d)


@pytest.mark.e2e
def test_stages_3_4_on_slurm_equal_run_pl_with_other_nj(slurm, aligned_recipe, tmp_path):
    """Stage 3 by slurm.pl --nj 3 equals the fixture's run.pl --nj 1; so does stage 4. The fixture's trained
    models are reused (their train step resumes to a no-op): that training does not depend on --nj is
    test_stage23's (--nj 2 trains); here the train step's inputs are checked to be the same under --nj 3."""
    ref, common = aligned_recipe[0], aligned_recipe[1]
    conf = common[common.index("--conf") + 1]
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    for d in (on_slurm, local):
        copy_stages_1_2(ref, d)
    for m in ("gmm", "dnn", "decode_word", "lang"):
        shutil.copytree(ref / "exp" / "align" / m, on_slurm / "exp" / "align" / m)
    run_recipe("--stage", 3, "--stop-stage", 4, "--conf", conf, "--data-dir", on_slurm / "data", "--exp-dir",
               on_slurm / "exp", "--nj", 3, "--cmd", f"{SLURM_PL} --mem 1G --time 0:30:00", env=slurm.env)
    log = on_slurm / "exp" / "log"
    assert sorted(p.name for p in log.glob("stage3_align.*.log")) == [f"stage3_align.{j}.log" for j in (1, 2, 3)]
    assert "Slurm job" in (log / "stage3_align.2.log").read_text()
    for part in ("train-clean-100", "dev-clean", "test-clean", "small", "medium", "large"):
        assert aligned_lines(on_slurm / "data" / "aligned" / f"cuts_{part}.jsonl.gz") == \
            aligned_lines(ref / "data" / "aligned" / f"cuts_{part}.jsonl.gz"), part
        assert (on_slurm / "exp" / "align" / "ali" / f"failed_{part}.tsv").read_text() == \
            (ref / "exp" / "align" / "ali" / f"failed_{part}.tsv").read_text()

    # What the train step reads: the same subset, features and per-speaker CMVN under --nj 3 as under --nj 1.
    stages = [Stage3(d / "data" / "lang", d / "data" / "manifests", d / "exp" / "align", d / "data" / "aligned",
                     Parts(["train-clean-100"], ["dev-clean", "test-clean"], ["small", "medium", "large"]), nj)
              for d, nj in ((on_slurm, 3), (ref, 1))]
    assert stages[0].subset_rows() == stages[1].subset_rows()
    for kind in ("mfcc", "fbank"):
        a, b = (st._subset_features(kind) for st in stages)
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a), kind

    # Stage 4 here with one job, the same codec (reused, not refitted), against Slurm's three.
    (local / "data" / "tokens").mkdir(parents=True)
    for f in ("codec.pt", "codec.json"):
        shutil.copy(on_slurm / "data" / "tokens" / f, local / "data" / "tokens" / f)
    run_recipe("--stage", 4, "--stop-stage", 4, "--conf", conf, "--data-dir", local / "data", "--exp-dir",
               local / "exp", "--nj", 1)
    from lhotse import load_manifest_lazy
    for part in ("train-clean-100", "small", "test-clean"):
        a = list(load_manifest_lazy(local / "data" / "tokens" / f"cuts_{part}.jsonl.gz"))
        b = list(load_manifest_lazy(on_slurm / "data" / "tokens" / f"cuts_{part}.jsonl.gz"))
        assert [c.id for c in a] == [c.id for c in b] and a
        assert all(np.array_equal(x.codes.load(), y.codes.load()) for x, y in zip(a, b))
        assert [Path(c.codes.array.storage_path).name for c in a] == [Path(c.codes.array.storage_path).name for c in b]
