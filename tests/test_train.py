"""Training loop: schedule, exact resume, checkpoint errors, NaN handling, mixed precision, DDP (gloo)."""
import dataclasses
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from lhotse import CutSet

from conftest import REPO, make_training_data
from valle.models import config as model_config
from valle.train import checkpoint as ckpt
from valle.models.io import CheckpointError
from valle.train.config import TrainConfig
from valle.train.trainer import Trainer, lr_lambda, num_targets, resolve_dtype, train

UNIT = model_config.ModelConfig(d_model=32, num_heads=2, num_layers=1, ffn_dim=64, dropout=0.1)


@pytest.fixture(autouse=True)
def unit_config(monkeypatch):
    monkeypatch.setitem(model_config.CONFIGS, "unit", UNIT)
    monkeypatch.setitem(model_config.CONFIGS, "unit_nodrop",
                        dataclasses.replace(UNIT, dropout=0.0, attn_dropout=0.0))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_training_data(tmp_path_factory.mktemp("train_data"), num_cuts=20, seed=5)


def make_cfg(data, exp_dir, **kw):
    base = dict(model_type="ar", exp_dir=exp_dir, phones=data["phones"], tts_dir=data["tts"], model_config="unit",
                num_steps=12, warmup_steps=3, peak_lr=2e-3, max_batch=8.0, num_buckets=2,
                crop_min=0.8, crop_max=2.0, prompt_seconds=0.5, log_interval=2, valid_interval=5,
                save_interval=100, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_lr_schedule_warmup_then_linear_decay():
    f = lr_lambda(4, 12)
    values = [f(s) for s in range(13)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]
    assert values[4] == 1.0 and values[8] == 0.5 and values[12] == 0.0
    assert all(a >= b for a, b in zip(values[3:], values[4:]))


@pytest.mark.parametrize("model_type,stop", [("ar", 5), ("nar", 5), ("ar", "epoch_end")])
def test_resume_is_exact(data, tmp_path, model_type, stop):
    """12 updates in one run == k updates, stop, resume, 12 - k more (crossing an epoch boundary, or
    stopping right at one)."""
    straight = Trainer(make_cfg(data, tmp_path / "a", model_type=model_type))
    straight_summary = straight.run()
    if stop == "epoch_end":
        stop = next(r["step"] for r in straight.epoch_ends)
    first = Trainer(make_cfg(data, tmp_path / "b", model_type=model_type, stop_after=stop))
    first.run()
    assert [p.name for p in ckpt.list_train_checkpoints(tmp_path / "b" / "checkpoints")] == [f"step-{stop}.pt"]
    assert not (tmp_path / "b" / "model.pt").exists()   # not finished yet
    resumed = Trainer(make_cfg(data, tmp_path / "b", model_type=model_type))
    resumed.run()
    assert resumed.epoch >= 1, "the test should cross an epoch boundary"
    a = ckpt.load(tmp_path / "a" / "checkpoints" / "step-12.pt", ckpt.TRAIN_KIND)
    b = ckpt.load(tmp_path / "b" / "checkpoints" / "step-12.pt", ckpt.TRAIN_KIND)
    assert [r["loss"] for r in a["history"]["train"]] == [r["loss"] for r in b["history"]["train"]]
    assert [r["loss"] for r in a["history"]["valid"]] == [r["loss"] for r in b["history"]["valid"]]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert a["epoch"] == b["epoch"] and a["batch_in_epoch"] == b["batch_in_epoch"]
    assert straight_summary["last_valid"]["loss"] == json.loads((tmp_path / "b" / "summary.json").read_text())["last_valid"]["loss"]
    # The run leaves what later stages and people read.
    for name in ("model.pt", "curves.png", "summary.json"):
        assert (tmp_path / "b" / name).is_file()
    assert any((tmp_path / "b" / "tensorboard").iterdir())
    model, meta = ckpt.load_model(tmp_path / "b" / "model.pt", expect_type=model_type)
    assert meta["config"]["d_model"] == 32 and meta["phones"]["p0"] == 2


def test_validation_accuracy_rises(data, tmp_path):
    summary = train(make_cfg(data, tmp_path / "exp", num_steps=40, warmup_steps=5, valid_interval=40,
                             peak_lr=5e-3))
    # Codebook 1 of the synthetic codes has 14 values, so top-10 starts high: the loss says more.
    assert summary["last_valid"]["loss"] < 0.5 * summary["first_valid"]["loss"]
    assert summary["last_valid"]["top10"] > summary["first_valid"]["top10"]


def test_grouped_ar_trains_and_keeps_its_group_size(data, tmp_path):
    """group_size 2 (conf: ar_group_size=2): the AR learns (validation loss falls as the G = 1 test's does) and
    model.pt records ar_group_size, which loading restores; the NAR ignores the setting."""
    summary = train(make_cfg(data, tmp_path / "ar", num_steps=40, warmup_steps=5, valid_interval=40, peak_lr=5e-3,
                             group_size=2))
    assert summary["last_valid"]["loss"] < 0.5 * summary["first_valid"]["loss"]
    model, meta = ckpt.load_model(tmp_path / "ar" / "model.pt", expect_type="ar")
    assert meta["config"]["ar_group_size"] == 2 and model.group_size == 2
    Trainer(make_cfg(data, tmp_path / "nar", model_type="nar", group_size=2, num_steps=1)).run()
    assert ckpt.load_model(tmp_path / "nar" / "model.pt", expect_type="nar")[1]["config"]["ar_group_size"] == 1


def test_mismatched_and_corrupt_checkpoints_are_clear_errors(data, tmp_path):
    Trainer(make_cfg(data, tmp_path, stop_after=2)).run()
    path = tmp_path / "checkpoints" / "step-2.pt"
    with pytest.raises(CheckpointError, match=r"step-2\.pt does not match this run: config\.d_model: "
                                              r"checkpoint 32, this run 64"):
        model_config.CONFIGS["wide"] = dataclasses.replace(UNIT, d_model=64)
        try:
            Trainer(make_cfg(data, tmp_path, model_config="wide")).run()
        finally:
            del model_config.CONFIGS["wide"]
    with pytest.raises(CheckpointError, match="model_type: checkpoint 'ar', this run 'nar'"):
        Trainer(make_cfg(data, tmp_path, model_type="nar")).run()
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"step-2\.pt cannot be read .*corrupt or truncated"):
        Trainer(make_cfg(data, tmp_path)).run()
    path.unlink()
    with pytest.raises(CheckpointError, match="expected a 'valle-model' checkpoint"):
        ckpt.save({"kind": ckpt.TRAIN_KIND, "format_version": 1}, tmp_path / "x.pt")
        ckpt.load_model(tmp_path / "x.pt")
    ckpt.save({"kind": ckpt.MODEL_KIND, "format_version": 999}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="format version 999"):
        ckpt.load_model(tmp_path / "y.pt")


def test_repeated_nan_stops_and_saves_the_batch(data, tmp_path):
    trainer = Trainer(make_cfg(data, tmp_path, max_bad_steps=3))
    with torch.no_grad():
        trainer.model.audio_pos.alpha.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN/inf for 3 updates in a row") as err:
        trainer.run()
    saved = list(tmp_path.glob("bad_batch_step3_rank0.pt"))
    assert saved and str(saved[0]) in str(err.value)
    [batch] = torch.load(saved[0], weights_only=False)["micro_batches"]
    assert batch["cut_ids"] and batch["codes"].ndim == 3
    assert trainer.step == 3  # the three batches were consumed, no update made


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_follows_float32(data, tmp_path, dtype):
    """The same 6 updates in float32 and in ``dtype`` from the same initial weights: losses agree to 0.5 % and
    the two runs' weights differ by under a tenth of the distance training moved them, yet they do differ
    (autocast really computed in low precision). Measured: 2e-4 / 3e-4 (bf16), 2e-5 / 6e-5 (fp16)."""
    def weights(trainer):
        return torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])

    runs, initial = {}, None
    for d in ("float32", dtype):
        runs[d] = Trainer(make_cfg(data, tmp_path / d, model_type="nar", model_config="unit_nodrop", dtype=d,
                                   num_steps=6))
        initial = weights(runs[d]) if initial is None else initial
        assert torch.equal(weights(runs[d]), initial)
        assert runs[d].run()["steps"] == 6
    ref, low = ([r["loss"] for r in runs[d].history["train"]] for d in ("float32", dtype))
    assert len(low) == 6 and all(torch.isfinite(torch.tensor(low)))
    assert low != ref
    assert max(abs(a - b) / a for a, b in zip(ref, low)) < 0.005, (ref, low)
    w_ref, w_low = weights(runs["float32"]), weights(runs[dtype])
    assert 0 < (w_low - w_ref).norm() < 0.1 * (w_ref - initial).norm()
    assert runs[dtype].scaler.is_enabled() == (dtype == "float16")


def test_auto_dtype_is_bfloat16_only_where_the_cpu_computes_in_it(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_dtype("float16", cpu) == "float16" and resolve_dtype("float32", cpu) == "float32"
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert resolve_dtype("auto", cpu) == "float32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert resolve_dtype("auto", cpu) == "bfloat16"


def test_two_accumulated_micro_batches_equal_one_batch_of_both(data, tmp_path):
    """accum_grad=2 over micro-batches A and B makes the same update as one batch holding A and B (the loss is
    normalized by the tokens of both, not averaged per micro-batch): the same loss and the same gradients."""
    for model_type in ("ar", "nar"):
        cfg = make_cfg(data, tmp_path / model_type, model_type=model_type, model_config="unit_nodrop", warmup_steps=0)
        whole = Trainer(cfg)
        accum = Trainer(dataclasses.replace(cfg, accum_grad=2))
        sampler, dataset = whole.train_sampler(), whole.train_dataset()
        a, b = next(iter(sampler)), next(sampler)
        assert len(a) != len(b) or a[0].duration != b[0].duration  # unequal sizes: a per-micro mean would differ
        out_whole = whole.train_step([dataset[CutSet.from_cuts(list(a) + list(b))]])
        out_accum = accum.train_step([dataset[a], dataset[b]])
        assert out_accum["tokens"] == out_whole["tokens"]
        assert out_accum["loss"] == pytest.approx(out_whole["loss"], rel=1e-5)
        assert out_accum["grad_norm"] == pytest.approx(out_whole["grad_norm"], rel=1e-4)
        # The gradients the update was made from (clipped, as the optimizer saw them), relative to their norm:
        # rounding differs elementwise. (Not the weights: Adam's first step turns float noise in near-zero
        # gradients into +-lr steps.)
        for (name, p), q in zip(whole.model.named_parameters(), accum.model.parameters()):
            assert (q.grad - p.grad).norm() <= 1e-5 * p.grad.norm() + 1e-9, name
        # A plain mean of the two micro-batch means is a different update: the test can tell them apart.
        n_a, n_b = (num_targets(model_type, dataset[x]) for x in (a, b))
        assert n_a != n_b


def test_accumulation_trains_and_resumes_exactly(data, tmp_path):
    straight = Trainer(make_cfg(data, tmp_path / "a", accum_grad=2, num_steps=6))
    straight.run()
    Trainer(make_cfg(data, tmp_path / "b", accum_grad=2, num_steps=6, stop_after=3)).run()
    resumed = Trainer(make_cfg(data, tmp_path / "b", accum_grad=2, num_steps=6))
    resumed.run()
    assert [r["loss"] for r in straight.history["train"]] == [r["loss"] for r in resumed.history["train"]]
    assert resumed.batch_in_epoch % 2 == 0 and resumed.epoch_ends  # micro-batches counted, an epoch crossed


def test_dataloader_workers_give_the_same_batches(data, tmp_path):
    """The sampler runs in the main process; workers only collate: 2 workers = no workers, batch for batch."""
    def batches(workers):
        trainer = Trainer(make_cfg(data, tmp_path / f"w{workers}", num_workers=workers))
        return [(b["cut_ids"], b["codes"]) for b in trainer.train_batches()]
    zero, two = batches(0), batches(2)
    assert [ids for ids, _ in zero] == [ids for ids, _ in two]
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(zero, two))
    ids = [i for b, _ in zero for i in b]
    assert len(ids) == len(set(ids)) == 21   # each example once per epoch


def test_ranks_read_disjoint_parts_of_the_shards(data, tmp_path):
    """With 2 ranks each trainer's sampler keeps every other batch of the same shard stream: disjoint, and
    together every example of the epoch once (the epoch's order of shards is the same on both)."""
    trainer = Trainer(make_cfg(data, tmp_path))
    per_rank = []
    for rank in range(2):
        trainer.env.world_size, trainer.env.rank = 2, rank
        per_rank.append([c.id for b in trainer.train_sampler() for c in b])
    assert per_rank[0] and per_rank[1] and set(per_rank[0]).isdisjoint(per_rank[1])
    assert len(per_rank[0]) + len(per_rank[1]) == 21 == len(set(per_rank[0]) | set(per_rank[1]))


def test_shuffled_shards_mix_speakers_like_a_uniform_shuffle(tmp_path):
    """40 speakers x 4 utterances, written in speaker order (as corpora are). Over the first batches of an epoch
    the number of distinct speakers is close to what a uniform random draw of as many utterances gives (mean of
    5 epochs). The same sampler reading the corpus in its own order (a small bucketing buffer, as at scale where
    the buffer is a tiny part of the corpus) sees far fewer."""
    from math import comb

    from lhotse import load_manifest_lazy
    from lhotse.dataset import DynamicBucketingSampler

    speakers, per_speaker = 40, 4
    n = speakers * per_speaker
    data = make_training_data(tmp_path / "data", num_cuts=n, seed=2, long_cut=False, speakers=speakers,
                              shard_size=20)
    trainer = Trainer(make_cfg(data, tmp_path / "exp", max_batch=6.0, bucket_buffer_size=24, num_buckets=2))

    def ratio_to_uniform(sampler, num_batches=8):
        it = iter(sampler)
        cuts = [c for _ in range(num_batches) for c in next(it)]
        m = len(cuts)
        expected = speakers * (1 - comb(n - per_speaker, m) / comb(n, m))   # E[distinct speakers], m uniform draws
        return len({c.supervisions[0].speaker for c in cuts}) / expected
    shuffled, in_order = [], []
    for epoch in range(5):
        trainer.epoch = epoch
        shuffled.append(ratio_to_uniform(trainer.train_sampler()))
        corpus_order = DynamicBucketingSampler(
            load_manifest_lazy(data["tts"] / "valid.jsonl.gz"), constraint=trainer._constraint(),
            duration_bins=trainer.duration_bins, shuffle=True, seed=epoch, buffer_size=24)
        in_order.append(ratio_to_uniform(corpus_order))
    assert sum(shuffled) / 5 >= 0.85, shuffled   # measured 0.98
    assert sum(in_order) / 5 < 0.7, in_order     # measured 0.54


def test_export_one_checkpoint_or_the_average_of_several(data, tmp_path):
    from valle.train.export import export_model

    Trainer(make_cfg(data, tmp_path, num_steps=6, save_interval=2, keep_last=3)).run()
    ckpts = tmp_path / "checkpoints"
    states = {n: ckpt.load(ckpts / f"step-{n}.pt", ckpt.TRAIN_KIND)["model"] for n in (2, 4, 6)}
    assert export_model(ckpts, tmp_path / "m4.pt", step=4)["step"] == 4
    model, meta = ckpt.load_model(tmp_path / "m4.pt", expect_type="ar")
    for k, v in model.state_dict().items():
        assert torch.equal(v, states[4][k]), k
    assert meta["train_crop_max"] == 2.0
    extra = export_model(ckpts, tmp_path / "avg.pt", avg=3)
    assert extra["averaged_steps"] == [2, 4, 6] and extra["step"] == 6
    model, _ = ckpt.load_model(tmp_path / "avg.pt")
    moved = 0
    for k, v in model.state_dict().items():
        if torch.is_floating_point(v):
            torch.testing.assert_close(v, (states[2][k] + states[4][k] + states[6][k]) / 3, rtol=0, atol=1e-6)
            moved += int(not torch.equal(states[2][k], states[6][k]))
    assert moved > 0  # training changed the weights, so the average is not any one checkpoint
    with pytest.raises(CheckpointError, match=r"--avg 4 needs 4 checkpoints .* there are 3 \(step-2.pt, step-4.pt, "
                                              r"step-6.pt\)"):
        export_model(ckpts, tmp_path / "x.pt", avg=4)
    with pytest.raises(CheckpointError, match=r"no step-5.pt"):
        export_model(ckpts, tmp_path / "x.pt", step=5)
    # The command: default output name, errors as exit 1 with the reason.
    proc = subprocess.run([sys.executable, str(REPO / "local" / "export_model.py"), "--exp-dir", str(tmp_path),
                           "--step", "4", "--avg", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ckpt.load_model(tmp_path / "model-step4-avg2.pt")[1]["averaged_steps"] == [2, 4]
    proc = subprocess.run([sys.executable, str(REPO / "local" / "export_model.py"), "--exp-dir", str(tmp_path),
                           "--avg", "9"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "--avg 9 needs 9 checkpoints" in proc.stderr


# --- DDP ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg, batches, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model_config.CONFIGS["unit_nodrop"] = dataclasses.replace(UNIT, dropout=0.0, attn_dropout=0.0)  # spawned: no monkeypatch
    trainer = Trainer(cfg)
    outs, grads = [], None
    for b in batches[rank]:
        outs.append(trainer.train_step([b]))
        if grads is None:
            grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters()}
    torch.save({"outs": outs, "grads": grads, "model": trainer.model.state_dict()}, out_dir / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def split_batch(batch, rows):
    out = {}
    for k, v in batch.items():
        out[k] = [v[i] for i in rows] if isinstance(v, list) else v[rows]
    return out


def test_two_ranks_equal_one_rank_with_the_same_global_batch(data, tmp_path):
    # A small learning rate: Adam turns float noise in near-zero gradients into +-lr steps, which
    # would make later steps differ by more than rounding.
    cfg = make_cfg(data, tmp_path / "exp", model_type="nar", model_config="unit_nodrop", peak_lr=1e-5,
                   warmup_steps=0)
    single = Trainer(cfg)
    loader = iter(single.train_batches())
    global_batches = [next(loader) for _ in range(3)]
    for b in global_batches:
        assert len(b["cut_ids"]) >= 2
    # Uneven splits on purpose: the loss is normalized by the global token count, so rank 0's one
    # example weighs what it weighs in the global batch (a per-rank mean would over-weight it).
    halves = [[split_batch(b, [0]) for b in global_batches],
              [split_batch(b, list(range(1, len(b["cut_ids"])))) for b in global_batches]]
    single_outs, single_grads = [], None
    for b in global_batches:
        single_outs.append(single.train_step([b]))
        if single_grads is None:
            single_grads = {n: p.grad.clone() for n, p in single.model.named_parameters()}
    mp.spawn(_ddp_worker, args=(2, free_port(), cfg, halves, tmp_path), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    # The first update: same weights, so the same loss and the same (all-reduced) gradient.
    for r in ranks:
        assert r["outs"][0]["loss"] == pytest.approx(single_outs[0]["loss"], rel=1e-6)
        assert r["outs"][0]["tokens"] == single_outs[0]["tokens"]
        for n, g in single_grads.items():  # relative to the gradient's norm: rounding differs elementwise
            assert (r["grads"][n] - g).norm() <= 1e-4 * g.norm() + 1e-9, n
    # Then the runs stay together.
    for s, d0, d1 in zip(single_outs, ranks[0]["outs"], ranks[1]["outs"]):
        assert s["loss"] == pytest.approx(d0["loss"], rel=1e-5) and d0["loss"] == d1["loss"]
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ranks[0]["model"][k], v, rtol=0, atol=5e-5)
        assert torch.equal(ranks[0]["model"][k], ranks[1]["model"][k])


@pytest.mark.e2e
def test_killed_training_resumes_to_the_same_model(data, tmp_path):
    """local/train.py killed with SIGKILL once it has saved a checkpoint (no clean-up runs), then rerun: it
    resumes and ends with the same weights as a run that was never interrupted."""
    import signal
    import time

    lang = tmp_path / "lang"
    lang.mkdir()
    (lang / "phones.txt").write_text(data["phones"].read_text())

    def cmd(exp):
        return [sys.executable, str(REPO / "local" / "train.py"), "--model", "nar", "--exp-dir", str(exp),
                "--lang-dir", str(lang), "--tts-dir", str(data["tts"]), "--model-config", "tiny", "--num-steps", "16",
                "--warmup-steps", "2", "--max-batch", "8", "--crop-min", "0.8", "--crop-max", "2", "--num-buckets",
                "2", "--save-interval", "4", "--valid-interval", "100", "--train-threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    straight = subprocess.run(cmd(tmp_path / "a"), env=env, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-3000:]
    proc = subprocess.Popen(cmd(tmp_path / "b"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not (tmp_path / "b" / "checkpoints" / "step-8.pt").exists() and proc.poll() is None:
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "b" / "model.pt").exists()
    rerun = subprocess.run(cmd(tmp_path / "b"), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "resumed from" in rerun.stderr
    a = ckpt.load(tmp_path / "a" / "model.pt", ckpt.MODEL_KIND)["state_dict"]
    b = ckpt.load(tmp_path / "b" / "model.pt", ckpt.MODEL_KIND)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.e2e
def test_torchrun_two_ranks_end_to_end(tmp_path):
    """local/train.py under torchrun with 2 gloo ranks (uneven epoch ends included), then a resume."""
    data = make_training_data(tmp_path / "data", num_cuts=16, seed=9)
    lang = tmp_path / "lang"
    lang.mkdir()
    (lang / "phones.txt").write_text(data["phones"].read_text())
    for d in ("aligned", "tokens"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "cuts_train.jsonl.gz").write_bytes(data[d].read_bytes())
        (tmp_path / d / "cuts_dev.jsonl.gz").write_bytes(data[d].read_bytes())
    tts = tmp_path / "tts"
    proc = subprocess.run([sys.executable, str(REPO / "local" / "prepare_tts_data.py"), "--aligned-dir",
                           str(tmp_path / "aligned"), "--tokens-dir", str(tmp_path / "tokens"),
                           "--train-parts", "train", "--valid-parts", "dev", "--out-dir", str(tts), "--shard-size", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(tts.glob("shard-*.jsonl.gz"))) == 4 and "train: 17 examples" in proc.stderr
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(REPO / "local" / "train.py"), "--model", "ar", "--exp-dir", str(exp), "--lang-dir", str(lang),
           "--tts-dir", str(tts), "--model-config", "tiny", "--num-steps", "8",
           "--warmup-steps", "2", "--max-batch", "6", "--crop-min", "1", "--crop-max", "2", "--num-buckets", "2",
           "--valid-interval", "4", "--log-interval", "2", "--train-threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd + ["--stop-after", "5"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 rank(s) on cpu" in proc.stderr
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumed from" in proc.stderr and "step-5.pt" in proc.stderr
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 8
    # A different number of ranks cannot resume this run exactly: refused with the reason.
    proc = subprocess.run([sys.executable] + cmd[6:] + ["--num-steps", "10"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "world_size: checkpoint 2, this run 1" in proc.stderr
