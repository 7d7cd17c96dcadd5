"""Stages 2-3 through run.sh on the tiny corpus: lang files, aligned cuts, failures listed, inspection aids."""
import json

import pytest
from lhotse import CutSet

from conftest import recipe_dirs, run_recipe  # noqa: F401  (aligned_recipe: a conftest fixture)

pytestmark = pytest.mark.e2e  # runs run.sh / the stage scripts on the tiny corpus

def test_lang_dir_is_complete(aligned_recipe):
    tmp = aligned_recipe[0]
    lang = tmp / "data" / "lang"
    for f in ("lexicon.txt", "phones.txt", "words.txt", "oov.txt", "oov_report.tsv", "bpe.model", "lang_info.json",
              "text/train-clean-100.txt", ".done"):
        assert (lang / f).is_file(), f
    assert json.loads((lang / "lang_info.json").read_text())["phone_set"] == "ipa"


def test_aligned_cuts_carry_word_phone_and_tts_alignments(aligned_recipe):
    tmp, _, _, bad_dev, bad_test = aligned_recipe
    aligned = tmp / "data" / "aligned"
    assert (aligned / ".done").is_file()
    texts = {}
    for part in ("train-clean-100", "dev-clean", "test-clean"):
        for line in (tmp / "data" / "lang" / "text" / f"{part}.txt").read_text().splitlines():
            k, v = line.split(" ", 1)
            texts[k] = v
    n_sups = 0
    for part in ("train-clean-100", "dev-clean", "test-clean", "small", "medium", "large"):
        cuts = CutSet.from_file(aligned / f"cuts_{part}.jsonl.gz")
        assert len(cuts) > 0, part
        for cut in cuts:
            for sup in cut.supervisions:
                n_sups += 1
                phones, tts = sup.alignment["phone"], sup.alignment["tts_phone"]
                assert phones and tts
                assert phones[0].start == pytest.approx(sup.start, abs=1e-3)
                assert phones[-1].end == pytest.approx(sup.end, abs=2e-3)
                assert all(a.end <= b.start + 1e-3 for a, b in zip(phones, phones[1:]))
                assert all(a.symbol != b.symbol for a, b in zip(tts, tts[1:]))
                assert sum(a.duration for a in tts) == pytest.approx(sum(a.duration for a in phones), abs=2e-3)
                if part in ("small", "medium", "large"):
                    # Word decoding: the recognized words with their times, and how confident the decode was.
                    decode = sup.custom["decode"]
                    assert [w.symbol for w in sup.alignment.get("word", [])] == decode["text"].split()
                    assert decode["acoustic_score"] <= 0 and decode["graph_cost_per_word"] > 0
                else:
                    assert " ".join(w.symbol for w in sup.alignment["word"]) == texts[sup.id]
                assert sup.id not in (bad_dev, bad_test)
    assert n_sups > 40


def test_failures_are_listed_with_reasons_and_counted(aligned_recipe):
    tmp, _, out, bad_dev, bad_test = aligned_recipe
    ali = tmp / "exp" / "align" / "ali"
    dev_fail = dict(l.split("\t") for l in (ali / "failed_dev-clean.tsv").read_text().splitlines()[1:])
    test_fail = dict(l.split("\t") for l in (ali / "failed_test-clean.tsv").read_text().splitlines()[1:])
    assert "transcript mismatch" in dev_fail[bad_dev] and "QQQZZZWORD" in dev_fail[bad_dev]
    assert test_fail[bad_test].startswith(("too short", "no path"))
    summary = json.loads((tmp / "exp" / "align" / "summary.json").read_text())
    assert summary["parts"]["dev-clean"]["failed"] == 1 and summary["parts"]["test-clean"]["failed"] == 1
    assert summary["parts"]["dev-clean"]["aligned"] == summary["parts"]["dev-clean"]["utterances"] - 1
    assert "1 failed" in out


def test_inspection_aids_and_rerun_is_a_no_op(aligned_recipe):
    tmp, common, _, _, _ = aligned_recipe
    inspect = tmp / "exp" / "align" / "inspect"
    grids, pngs = list(inspect.glob("*.TextGrid")), list(inspect.glob("*.png"))
    assert grids and len(pngs) == len(grids)
    from valle.align.textgrid import read_textgrid
    tiers, xmax = read_textgrid(grids[0])
    assert set(tiers) == {"words", "phones"} and tiers["phones"] and xmax > 0
    out = run_recipe("--stage", 3, "--stop-stage", 3, *common).stdout
    assert "Stage 3 already done" in out


def test_a_failed_job_fails_the_stage_and_a_rerun_redoes_only_that_job(aligned_recipe, tmp_path):
    """Stage 3 in 2 jobs equals the fixture's 1 job; a job that fails stops the stage, naming its log; the rerun
    redoes that job only."""
    import gzip
    import shutil
    ref, common = aligned_recipe[0], aligned_recipe[1]
    conf = common[common.index("--conf") + 1]
    for d in ("data/manifests", "data/lang"):
        shutil.copytree(ref / d, tmp_path / d)
    args = ["--stage", 3, "--stop-stage", 3, "--nj", 2, "--conf", conf, "--data-dir", tmp_path / "data",
            "--exp-dir", tmp_path / "exp"]
    run_recipe(*args)
    parts = ("train-clean-100", "dev-clean", "test-clean", "small", "medium", "large")

    def same_as_fixture():
        for part in parts:
            a, b = (d / "data" / "aligned" / f"cuts_{part}.jsonl.gz" for d in (tmp_path, ref))
            assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes()), part
            a, b = (d / "exp" / "align" / "ali" / f"failed_{part}.tsv" for d in (tmp_path, ref))
            assert a.read_text() == b.read_text(), part
    same_as_fixture()

    (tmp_path / "data" / "aligned" / ".done").unlink()  # as if stage 3 had not finished:
    split = tmp_path / "exp" / "align" / "split2"
    (split / "ali" / "2.json").unlink()                  # job 2 of the align step did not finish ...
    piece = split / "cuts_dev-clean.2.jsonl.gz"
    good = piece.read_bytes()
    piece.write_bytes(gzip.compress(b"{not json\n"))    # ... and fails again: its input is broken
    before = {p: p.stat().st_mtime_ns for p in split.rglob("*") if p.is_file()}
    p = run_recipe(*args, check=False)
    assert p.returncode != 0 and "1 / 2 failed" in p.stdout and "stage3_align.2.log" in p.stdout
    assert not (tmp_path / "data" / "aligned" / ".done").exists()
    piece.write_bytes(good)
    run_recipe(*args)
    changed = {p.relative_to(split).as_posix() for p in split.rglob("*") if p.is_file()
               and before.get(p) != p.stat().st_mtime_ns} - {"cuts_dev-clean.2.jsonl.gz"}
    assert changed and all(c.startswith("ali/") and (c.endswith((".2.jsonl.gz", ".2.tsv")) or c == "ali/2.json")
                           for c in changed), changed
    same_as_fixture()


def test_an_external_lm_builds_the_same_graph_as_the_estimated_one(aligned_recipe, tmp_path):
    """align_lm (egs/librispeech: LibriSpeech's trigram): the train step builds HCLG from the ARPA file instead of
    estimating one. Given the recipe's own estimated LM plus n-grams of a word words.txt lacks, those n-grams are
    left out (counted in decode_word/.done) and the graph has exactly the recipe's states and arcs. A graph built
    from another LM than the settings name is rebuilt."""
    import gzip
    import shutil

    from valle.align.config import AlignConfig
    from valle.align.stage import Parts, Stage3

    tmp = aligned_recipe[0]
    models = tmp_path / "models"
    for d in ("gmm", "dnn", "lang"):
        shutil.copytree(tmp / "exp" / "align" / d, models / d)
    arpa = gzip.decompress((tmp / "exp" / "align" / "decode_word" / "lm.arpa.gz").read_bytes()).decode()
    head, _, body = arpa.partition("\\1-grams:\n")
    counts = {n: int(head.split(f"ngram {n}=")[1].split()[0]) for n in (1, 2, 3)}
    extra = {1: "-3.0\tZZZNOTAWORD\t-0.1\n", 2: "-1.0\tZZZNOTAWORD </s>\t-0.1\n", 3: "-0.5\t<s> ZZZNOTAWORD </s>\n"}
    for n in (1, 2, 3):
        head = head.replace(f"ngram {n}={counts[n]}", f"ngram {n}={counts[n] + 1}")
        body = body.replace(f"\\{n + 1}-grams:\n", extra[n] + f"\\{n + 1}-grams:\n") if n < 3 else \
            body.replace("\\end\\", extra[3] + "\\end\\")
    (tmp_path / "ext.arpa").write_text(head + "\\1-grams:\n" + body)
    cfg = AlignConfig(lm=str(tmp_path / "ext.arpa"))
    stage = Stage3(tmp / "data" / "lang", tmp / "data" / "manifests", tmp_path / "exp", tmp_path / "aligned",
                   Parts(["train-clean-100"], [], ["small"]), 1, cfg, model_dir=models)
    stage.build_word_graph()
    ours = json.loads((models / "decode_word" / ".done").read_text())
    recipe = json.loads((tmp / "exp" / "align" / "decode_word" / ".done").read_text())
    assert ours["lm"] == str((tmp_path / "ext.arpa").resolve()) and ours["skipped_oov_ngrams"] == [1, 1, 1]
    assert ours["ngrams"] == recipe["ngrams"]
    assert (ours["graph_states"], ours["graph_arcs"]) == (recipe["graph_states"], recipe["graph_arcs"])
    assert not (models / "decode_word" / "lm.arpa.gz").exists()  # named, not copied
    # The train step rebuilds the graph (only) when the settings name another LM than it was built from.
    assert stage._word_graph_current()
    estimated = Stage3(tmp / "data" / "lang", tmp / "data" / "manifests", tmp_path / "exp", tmp_path / "aligned",
                       Parts(["train-clean-100"], [], ["small"]), 1, AlignConfig(), model_dir=models)
    assert not estimated._word_graph_current()
