"""Stages 4-7 through run.sh on the tiny corpus (after the shared stages 0-3): AR and NAR training
leave models, checkpoints, curves, TensorBoard logs and summaries; stage 7 synthesizes the test speakers
in both prompt modes and writes the metrics (with the external-model hooks); reruns are no-ops; --force
restarts."""
import gzip
import json

import pytest
import torch

from conftest import recipe_dirs, run_recipe
from valle.train import checkpoint as ckpt

pytestmark = pytest.mark.e2e  # runs run.sh / the stage scripts on the tiny corpus

TRAIN_CONF = """
model_config=tiny
num_steps=6
warmup_steps=2
peak_lr=2e-3
max_batch=20
num_buckets=2
crop_min=2
crop_max=6
valid_interval=3
save_interval=3
log_interval=2
train_dtype=float32
test_min_duration=0
test_max_duration=30
synth_batch_size=4
synth_max_frames_per_phone=6
"""

# Stand-ins for external models (stage 7's hooks): an "ASR" that hears the ground-truth recordings
# perfectly (it reads the test list) and nothing else, and a "speaker model" that scores every pair 0.25.
FAKE_ASR = """import sys
rows = [l.rstrip("\\n").split("\\t") for l in open(sys.argv[1])]
synth = rows[0][1].rsplit("/", 2)[0]
text = {r[0]: r[3] for r in (l.rstrip("\\n").split("\\t") for l in open(synth + "/test_list.tsv"))}
with open(sys.argv[2], "w") as f:
    for uid, wav in rows:
        f.write(uid + "\\t" + (text[uid].lower() if "/ground_truth/" in wav else "zzzz") + "\\n")
"""
FAKE_SIM = """import sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        key, wav, prompt = line.rstrip("\\n").split("\\t")
        uid = wav.rsplit("/", 1)[1]
        folder = "/prompts_continuation/" if "/continuation/" in wav else "/prompts/"
        assert prompt.endswith(folder + uid), (wav, prompt)
        f.write(key + "\\t0.25\\n")
"""


@pytest.fixture(scope="module")
def trained_recipe(aligned_recipe):
    tmp, common = aligned_recipe[0], list(aligned_recipe[1])
    conf = tmp / "conf.sh"
    conf.write_text(conf.read_text() + TRAIN_CONF)
    run_recipe("--stage", 4, "--stop-stage", 4, *common)
    out = run_recipe("--stage", 5, "--stop-stage", 6, *common).stdout
    return tmp, common, out


@pytest.mark.parametrize("model_type", ["ar", "nar"])
def test_training_stage_outputs(trained_recipe, model_type):
    tmp = trained_recipe[0]
    exp = tmp / "exp" / model_type
    assert (exp / ".done").is_file()
    model, meta = ckpt.load_model(exp / "model.pt", expect_type=model_type)
    assert meta["config"]["d_model"] == 256 and meta["step"] == 6
    phones = (tmp / "data" / "lang" / "phones.txt").read_text().split()
    assert set(meta["phones"]) == set(phones[0::2])
    assert [p.name for p in ckpt.list_train_checkpoints(exp / "checkpoints")] == ["step-3.pt", "step-6.pt"]
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["first_valid"]["step"] == 0 and summary["last_valid"]["step"] == 6
    assert summary["last_valid"]["loss"] < summary["first_valid"]["loss"]
    assert (exp / "curves.png").stat().st_size > 1000
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    log = (tmp / "exp" / "log" / f"stage{5 if model_type == 'ar' else 6}_train_{model_type}.log").read_text()
    assert "tokens/s" in log and "valid loss" in log and "top-10 accuracy" in log
    # Training reads the train parts (labeled + unlabeled), validation the dev part, never mixed. (The tiny
    # corpus's weak DNN decodes some unlabeled segments as one phone: those are counted and left out.)
    tts = tmp / "data" / "tts"
    def ids(paths):
        out = set()
        for path in paths:
            with gzip.open(path, "rt") as f:
                out |= {json.loads(line)["id"].split("#")[0] for line in f}
        return out

    parts = {}
    for part in ("train-clean-100", "small", "medium", "large", "dev-clean"):
        with gzip.open(tmp / "data" / "aligned" / f"cuts_{part}.jsonl.gz", "rt") as f:
            parts[part] = {json.loads(line)["id"] for line in f}
    train_ids, valid_ids = ids(tts.glob("shard-*.jsonl.gz")), ids([tts / "valid.jsonl.gz"])
    assert parts["train-clean-100"] <= train_ids
    assert train_ids <= parts["train-clean-100"] | parts["small"] | parts["medium"] | parts["large"]
    assert valid_ids == parts["dev-clean"]
    # Built once, at stage 5; stage 6 reads the same shards.
    data_log = (tmp / "exp" / "log" / "stage5_tts_data.log").read_text()
    assert "train: " in data_log and "left out (segments): " in data_log
    assert not (tmp / "exp" / "log" / "stage6_tts_data.log").exists()
    assert "training data already built" in trained_recipe[2]
    summary = json.loads((tts / "summary.json").read_text())
    # LibriLight files hold several voice-activity segments: joined into fewer, longer examples.
    assert summary["train"]["segments_kept"] > summary["train"]["examples"] >= len(parts["train-clean-100"])
    with torch.no_grad():
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_stage7_synthesizes_both_modes_and_writes_metrics(trained_recipe):
    import sys

    import soundfile as sf

    tmp, common, _ = trained_recipe
    (tmp / "asr.py").write_text(FAKE_ASR)
    (tmp / "sim.py").write_text(FAKE_SIM)
    conf = tmp / "conf.sh"
    conf.write_text(conf.read_text() + f'asr_command="{sys.executable} {tmp / "asr.py"}"\n'
                    f'sim_command="{sys.executable} {tmp / "sim.py"}"\n')
    out = run_recipe("--stage", 7, "--stop-stage", 7, *common).stdout
    synth = tmp / "exp" / "synth"
    assert (synth / ".done").is_file()
    rows = [line.split("\t") for line in (synth / "test_list.tsv").read_text().splitlines()[1:]]
    ids = [r[0] for r in rows]
    # Tiny: 2 test speakers x 2 utterances, but one transcript was sabotaged before stage 3 (not aligned), so
    # its speaker has no other utterance for a prompt: that target is left out, with the reason.
    assert len(ids) == 2 and len({r[1] for r in rows}) == 1
    for uid, spk, _, _, prompt_id, *_ in rows:
        assert prompt_id != uid and prompt_id.split("-")[0] == spk       # another utterance, same speaker
    m = json.loads((synth / "metrics.json").read_text())
    [(left_out, reason)] = m["left_out_no_prompt"].items()
    assert left_out not in ids and "no other utterance" in reason
    # mini's codec (mel_rvq) decodes codebook 1 alone: the AR model's share gets its rows
    assert list(m["systems"]) == ["ground_truth", "resynthesis", "resynthesis_codebook1", "cross", "cross_codebook1",
                                  "continuation"]
    for name, s in m["systems"].items():
        # The tiny conf's 6 s training crop fits 72 phones: a continuation of a longer transcript is refused
        # (cross mode would split it), skipped and reported; everything else is synthesized.
        failures = s["synthesis_failures"]
        assert s["utterances"] + len(failures) == 2 and 0 <= s["per"]
        assert all("cross mode splits long text" in r or "nothing to continue" in r for r in failures.values())
        assert not failures or name == "continuation"
        for uid in set(ids) - set(failures):
            audio, rate = sf.read(synth / name / f"{uid}.wav")
            assert rate == 24000 and len(audio) > 0
        generated = name in ("cross", "cross_codebook1", "continuation")
        assert (s["eos_failure_rate"] is not None) == generated
        # The hooks: the stand-in ASR hears only the recordings; the speaker model says 0.25 to all.
        assert s["wer"] == (0.0 if name == "ground_truth" else 100.0) and s["similarity"] == 0.25
    assert m["systems"]["ground_truth"]["duration_ratio_median"] == 1.0
    # The models record the codec their tokens came from; synthesis checked it against data/tokens/codec.pt.
    import torch

    from valle.codec.encodec import codec_identity
    here = codec_identity(tmp / "data" / "tokens" / "codec.pt")
    for kind in ("ar", "nar"):
        recorded = torch.load(tmp / "exp" / kind / "model.pt", weights_only=True)["codec"]
        assert recorded["sha256"] == here["sha256"] and recorded["kind"] == here["kind"] == "mel_rvq"
    # The stage-3 recognizer hears the recordings, and about as well through mini's codec (mel_rvq), the
    # issue's goal of 1.5x at most (the random-weight EnCodec it replaced: 99 % against 62 %).
    assert m["systems"]["ground_truth"]["per"] < 85
    assert m["systems"]["resynthesis"]["per"] <= 1.5 * m["systems"]["ground_truth"]["per"]
    for uid, r in zip(ids, rows):
        prompt, rate = sf.read(synth / "prompts" / f"{uid}.wav")
        assert rate == 24000 and abs(len(prompt) / rate - (float(r[6]) - float(r[5]))) < 0.01
        # Continuation: its prompt is the target's own first words (at most 3 s), it says the words after them.
        cont_id, cont_start, cont_end, cont_text, rest = r[8:13]
        if cont_id:
            assert cont_id == uid and float(cont_end) - float(cont_start) <= 3.0
            assert (cont_text + " " + rest).split() == r[3].split()
            prompt, _ = sf.read(synth / "prompts_continuation" / f"{uid}.wav")
            assert abs(len(prompt) / rate - (float(cont_end) - float(cont_start))) < 0.01
    per_utt = (synth / "per_utterance.tsv").read_text().splitlines()
    assert len(per_utt) == 1 + sum(s["utterances"] for s in m["systems"].values())
    table = (synth / "metrics.txt").read_text()
    assert table.splitlines()[0].split()[:3] == ["system", "utts", "PER"] and "computed with" in table
    assert "ground_truth" in out and "PER" in out   # the table is logged too
    # A rerun is a no-op.
    assert "Stage 7 already done" in run_recipe("--stage", 7, "--stop-stage", 7, *common).stdout


def test_rerun_is_a_noop_and_force_restarts(trained_recipe):
    tmp, common, _ = trained_recipe
    out = run_recipe("--stage", 5, "--stop-stage", 6, *common).stdout
    assert "Stage 5 already done" in out and "Stage 6 already done" in out
    before = (tmp / "exp" / "ar" / "model.pt").stat().st_mtime_ns
    out = run_recipe("--stage", 5, "--stop-stage", 5, "--force", "true", *common).stdout
    assert "resumed from" not in out and "steps 0->6" in out
    assert (tmp / "exp" / "ar" / "model.pt").stat().st_mtime_ns != before
    # Stage 5 ran again, so stage 6 is no longer current; --force at stage 5 rebuilt the training data too.
    assert not (tmp / "exp" / "nar" / ".done").exists()
    assert "training data already built" not in out and (tmp / "data" / "tts" / ".done").is_file()


def test_stage_5_needs_alignments(tmp_path, tiny_conf):
    marker = tmp_path / "data" / "tokens" / ".done"
    marker.parent.mkdir(parents=True)
    marker.touch()
    p = run_recipe("--stage", 5, "--stop-stage", 5, "--conf", tiny_conf, *recipe_dirs(tmp_path), check=False)
    assert p.returncode != 0 and "expected phone alignments" in p.stdout and "made by stage 3" in p.stdout
