"""Training loop for the AR (stage 5) and NAR (stage 6) models: one loop, ``model_type`` picks the model.

Paper defaults (VALL-E section 5.1): AdamW, peak learning rate 5e-4, linear warm-up over 32k updates
then linear decay. Not given by the paper, so PyTorch's AdamW defaults: betas (0.9, 0.999), weight
decay 0.01; gradient clipping at norm 1.0 (after unscaling, before the step).

Data: the shards of the training-data build (valle/data/tts_data.py), read lazily, in a seeded order of shards per
epoch, through lhotse's DynamicBucketingSampler (its duration bins estimated once, from the first examples of
the globally shuffled shards). Every rank reads the same stream and keeps every world_size-th batch, so ranks
get disjoint data; the sampler runs in the main process and DataLoader workers only collate, so workers never
repeat an example.

Single process or torchrun (DDP, gloo on CPU / nccl on GPU), with ``accum_grad`` micro-batches per update. The
loss is the summed cross-entropy over all micro-batches of all ranks divided by their total token count (counted
from the batches before any forward pass), so N ranks x K micro-batches compute the same update as one process
with one batch holding all of them. Resumes exactly from ``checkpoints/step-<N>.pt`` (see checkpoint.py).
"""
import contextlib
import dataclasses
import json
import logging
import math
import random
import time
from itertools import islice
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from lhotse import CutSet, load_manifest_lazy
from lhotse.dataset import DynamicBucketingSampler, DynamicCutSampler
from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets
from tqdm import tqdm

from valle.data.dataset import CropAwareConstraint, CropConfig, ValleDataset
from valle.data.tts_data import VALID_NAME, read_summary, shard_paths
from valle.models.config import CHECKPOINT_FORMAT_VERSION, get_config, model_size_warning, text_vocab_size
from valle.models.valle import build_model, loss_and_accuracy
from valle.text.lang_dir import read_phone_table
from valle.train import checkpoint as ckpt
from valle.train.config import TrainConfig
from valle.train.distributed import Distributed
from valle.train.monitor import peak_flops, plot_curves
from valle.utils.io import write_text_atomic
from valle.utils.precision import resolve_dtype


def lr_lambda(warmup: int, total: int):
    """Linear warm-up to 1 over ``warmup`` updates, then linear decay to 0 at ``total``."""
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


class SkipFirst:
    """Replays a sampler's epoch and drops the batches already consumed before a resume."""

    def __init__(self, sampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self):
        # Not `yield from it`: that calls iter() again, and a lhotse sampler's __iter__ restarts the epoch.
        it = iter(self.sampler)
        n = 0
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            if n >= self.skip:
                yield batch
            n += 1


def model_inputs(model_type: str, batch: dict, device) -> dict:
    """The batch tensors a model's forward() takes (the AR model reads codebook 1 only)."""
    if model_type == "ar":
        return {"text": batch["text"].to(device), "text_lens": batch["text_lens"].to(device),
                "codes": batch["codes"][..., 0].to(device), "code_lens": batch["code_lens"].to(device)}
    keys = ("text", "text_lens", "prompt", "prompt_lens", "codes", "code_lens", "stages")
    return {k: batch[k].to(device) for k in keys}


def batch_tokens(batch: dict) -> int:
    """Tokens the model reads: phones + EOS, target frames, prompt frames."""
    return int(batch["text_lens"].sum() + batch["code_lens"].sum() + batch["prompt_lens"].sum())


def num_targets(model_type: str, batch: dict) -> int:
    """The tokens the loss is taken over, from the batch alone (before any forward pass): the AR model predicts
    every frame of codebook 1 and EOS, the NAR model every frame of its codebook."""
    return int(batch["code_lens"].sum()) + (len(batch["code_lens"]) if model_type == "ar" else 0)


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.env = Distributed(cfg.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.exp_dir = Path(cfg.exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.phones = read_phone_table(cfg.phones)
        self.model_config = get_config(cfg.model_config).with_text_vocab(text_vocab_size(self.phones))
        if cfg.model_type == "ar":
            self.model_config = dataclasses.replace(self.model_config, ar_group_size=cfg.group_size)
        self.crop = CropConfig(cfg.crop_min, cfg.crop_max, cfg.prompt_seconds)

        data = read_summary(cfg.tts_dir)
        self.shards = shard_paths(cfg.tts_dir, data)
        self.valid_cuts_path = Path(cfg.tts_dir) / VALID_NAME if data["valid"].get("file") else None
        self.fingerprint = data["fingerprint"]
        self.codec = data.get("codec")     # the codec the tokens came from: kept in model.pt for synthesis
        size_warning = model_size_warning(cfg.model_config, float(data.get("train", {}).get("hours", 0.0)))
        if size_warning and self.env.main:
            banner = "#" * 100
            logging.warning(f"\n{banner}\n# WARNING: {size_warning}\n{banner}")
        self.duration_bins = self._estimate_duration_bins()

        torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        self.model = build_model(cfg.model_type, self.model_config).to(self.env.device)
        self.num_params = sum(p.numel() for p in self.model.parameters())
        if self.env.world_size > 1:
            ids = [self.env.device.index] if self.env.device.type == "cuda" else None
            self.ddp = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.ddp = self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.peak_lr, betas=tuple(cfg.adam_betas),
                                           weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           lr_lambda(cfg.warmup_steps, cfg.num_steps))
        self.dtype = resolve_dtype(cfg.dtype, self.env.device)
        self.amp_dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[self.dtype]
        self.scaler = torch.amp.GradScaler(self.env.device.type, enabled=self.dtype == "float16")
        torch.manual_seed(cfg.seed + 1000 * (self.env.rank + 1))  # dropout differs per rank

        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.history: Dict[str, list] = {"train": [], "valid": []}
        self.epoch_ends: List[dict] = []   # this run's, for the log and tests
        self.writer = None

    # --- data -----------------------------------------------------------------------------------
    def _constraint(self) -> CropAwareConstraint:
        return CropAwareConstraint(max_duration=self.cfg.max_batch, max_crop_seconds=self.cfg.crop_max,
                                   unit=self.cfg.batch_unit, quadratic_duration=self.cfg.quadratic_duration)

    def _estimate_duration_bins(self) -> List[float]:
        """Bucket boundaries from the first examples of the shards in their stored order: a uniform sample of the
        corpus (the shards are globally shuffled), the same in every epoch and after a resume."""
        sample = list(islice(CutSet.from_files(self.shards, shuffle_iters=False), 10_000))
        num_buckets = min(self.cfg.num_buckets, len(sample))
        return estimate_duration_buckets(sample, num_buckets, self._constraint()) if num_buckets > 1 else []

    def epoch_cuts(self) -> CutSet:
        """The training examples in this epoch's order of shards (a function of the seed and the epoch only, so a
        resumed run replays it exactly), read lazily."""
        order = list(self.shards)
        random.Random(f"{self.cfg.seed}:{self.epoch}").shuffle(order)
        return CutSet.from_files(order, shuffle_iters=False)

    def train_sampler(self) -> DynamicBucketingSampler:
        sampler = DynamicBucketingSampler(
            self.epoch_cuts(), constraint=self._constraint(), duration_bins=self.duration_bins, shuffle=True,
            drop_last=False, seed=self.cfg.seed, buffer_size=self.cfg.bucket_buffer_size,
            world_size=self.env.world_size, rank=self.env.rank)
        sampler.set_epoch(self.epoch)
        return sampler

    def train_dataset(self) -> ValleDataset:
        dataset = ValleDataset(self.phones, self.cfg.model_type, self.crop, self.model_config.num_codebooks,
                               seed=self.cfg.seed, train=True)
        dataset.set_epoch(self.epoch)
        return dataset

    def train_batches(self):
        """This rank's micro-batches for the current epoch, from ``batch_in_epoch`` on."""
        # Own generator: creating the iterator would otherwise draw from the global torch RNG, and a
        # resumed run (which creates it at a different moment) would get different dropout masks.
        sampler = SkipFirst(self.train_sampler(), self.batch_in_epoch)
        return torch.utils.data.DataLoader(self.train_dataset(), sampler=sampler, batch_size=None,
                                           num_workers=self.cfg.num_workers,
                                           generator=torch.Generator().manual_seed(self.cfg.seed + self.epoch))

    def valid_batches(self):
        sampler = DynamicCutSampler(load_manifest_lazy(self.valid_cuts_path), constraint=self._constraint(),
                                    shuffle=False, world_size=self.env.world_size, rank=self.env.rank)
        dataset = ValleDataset(self.phones, self.cfg.model_type, self.crop, self.model_config.num_codebooks,
                               seed=self.cfg.seed, train=False)
        return torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=0,
                                           generator=torch.Generator().manual_seed(self.cfg.seed))

    # --- checkpoints ----------------------------------------------------------------------------
    def identity(self) -> dict:
        """What a checkpoint must share with this run to be resumed."""
        return {"model_type": self.cfg.model_type, "config": self.model_config.to_dict(),
                "phones": self.phones, "world_size": self.env.world_size, "data": self.fingerprint}

    def save_checkpoint(self) -> None:
        rngs = self.env.gather(ckpt.rng_state())
        if not self.env.main:
            return
        state = {"kind": ckpt.TRAIN_KIND, "format_version": CHECKPOINT_FORMAT_VERSION, **self.identity(),
                 "train_config": {k: str(v) for k, v in dataclasses.asdict(self.cfg).items()}, "codec": self.codec,
                 "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                 "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "rng": rngs, "history": self.history}
        path = self.ckpt_dir / f"step-{self.step}.pt"
        ckpt.save(state, path)
        # The curves go with every checkpoint (the last update always saves one): drawn once per save.
        plot_curves(self.history, self.exp_dir / "curves.png", self.cfg.model_type.upper())
        for old in ckpt.list_train_checkpoints(self.ckpt_dir)[: -self.cfg.keep_last]:
            old.unlink()
        logging.info(f"saved {path}")

    def resume(self, path: Optional[Path] = None) -> bool:
        """Load ``path`` or the newest checkpoint under exp_dir/checkpoints; False when there is none."""
        if path is None:
            found = ckpt.list_train_checkpoints(self.ckpt_dir)
            if not found:
                return False
            path = found[-1]
        state = ckpt.load(path, ckpt.TRAIN_KIND)
        ckpt.check_compatible(path, state, self.identity())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.history = state["history"]
        ckpt.set_rng_state(state["rng"][self.env.rank])
        logging.info(f"resumed from {path}: step {self.step}, epoch {self.epoch}, "
                     f"batch {self.batch_in_epoch} of that epoch")
        return True

    # --- steps ----------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.env.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    @torch.no_grad()
    def validate(self) -> dict:
        self.ddp.eval()
        loss, hits, n = 0.0, 0.0, 0.0
        for batch in self.valid_batches():
            with self._autocast():
                logits, targets = self.model(**model_inputs(self.cfg.model_type, batch, self.env.device))
            ls, h, c = loss_and_accuracy(logits, targets)
            loss, hits, n = loss + ls.item(), hits + h.item(), n + c.item()
        loss, hits, n = self.env.sum([loss, hits, n])
        self.ddp.train()
        return {"step": self.step, "loss": loss / max(n, 1), "top10": hits / max(n, 1), "tokens": n}

    def _no_sync(self, last: bool):
        """DDP all-reduces gradients on the last micro-batch of an update only."""
        return self.ddp.no_sync() if self.env.world_size > 1 and not last else contextlib.nullcontext()

    def train_step(self, micro: List[Optional[dict]]) -> Optional[dict]:
        """One update from this rank's ``accum_grad`` micro-batches; None when a rank ran out of data (all ranks
        then end the epoch together, and the micro-batches of the unfinished update are dropped)."""
        have = all(b is not None for b in micro)
        counts = [num_targets(self.cfg.model_type, b) for b in micro] if have else []
        everyone_has, global_n = self.env.sum([float(have), float(sum(counts))])
        if everyone_has < self.env.world_size:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss_total, hits_total = 0.0, 0.0
        for k, batch in enumerate(micro):
            with self._no_sync(k == len(micro) - 1):
                with self._autocast():
                    logits, targets = self.ddp(**model_inputs(self.cfg.model_type, batch, self.env.device))
                    loss_sum, hits, n = loss_and_accuracy(logits, targets)
                if int(n) != counts[k]:
                    raise RuntimeError(f"the model scored {int(n)} targets where num_targets counted {counts[k]}")
                # Summed loss / all tokens of the update (every micro-batch, every rank), times world size: DDP's
                # gradient mean then equals the gradient of the update's mean loss, however it is split.
                self.scaler.scale(loss_sum * self.env.world_size / global_n).backward()
            loss_total += loss_sum.item()
            hits_total += hits.item()
        finite = self.env.sum([float(math.isfinite(loss_total))])[0] == self.env.world_size
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            return {"skipped": True, "loss": float("nan")}
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.amp_dtype == torch.float16:
            self.scaler.step(self.optimizer)   # skips the update itself when gradients overflowed
            self.scaler.update()
        elif torch.isfinite(grad_norm):
            self.optimizer.step()
        else:
            return {"skipped": True, "loss": float("nan")}
        self.scheduler.step()
        loss_total, hits_total = self.env.sum([loss_total, hits_total])
        return {"skipped": False, "loss": loss_total / global_n, "top10": hits_total / global_n,
                "grad_norm": float(grad_norm), "tokens": global_n}

    def _on_bad_batch(self, micro: List[dict], bad: int) -> None:
        cut_ids = [c for b in micro for c in b["cut_ids"]]
        logging.warning(f"step {self.step}: loss is NaN/inf (cuts {cut_ids[:4]}...); update skipped ({bad} in a row)")
        if bad >= self.cfg.max_bad_steps:
            path = self.exp_dir / f"bad_batch_step{self.step}_rank{self.env.rank}.pt"
            ckpt.save({"micro_batches": micro}, path)
            raise FloatingPointError(f"loss was NaN/inf for {bad} updates in a row; the last update's micro-batches are "
                                     f"saved in {path} (cuts {cut_ids}). Try --train-dtype bfloat16/float32, a lower "
                                     f"--peak-lr, or inspect those cuts.")

    def _log_scalars(self, prefix: str, row: dict) -> None:
        if self.writer is not None:
            for k, v in row.items():
                if k != "step":
                    self.writer.add_scalar(f"{prefix}/{k}", v, self.step)

    def _validate_and_record(self) -> None:
        if self.valid_cuts_path is None:
            return
        row = self.validate()
        self.history["valid"].append(row)
        logging.info(f"step {self.step}: valid loss {row['loss']:.4f}, top-10 accuracy {row['top10']:.4f} "
                     f"({int(row['tokens'])} tokens)")
        if self.env.main:
            self._log_scalars("valid", {"loss": row["loss"], "top10_accuracy": row["top10"]})

    def _log_train(self, window: "LogWindow", out: dict, peak: Optional[float]) -> None:
        """Averages over the last log interval; throughput counts every token the model read (all ranks)."""
        elapsed = max(time.time() - window.t, 1e-9)
        tps = window.inputs / elapsed
        row = {"loss": window.loss / max(window.n, 1), "top10_accuracy": window.top10 / max(window.n, 1),
               "lr": self.scheduler.get_last_lr()[0], "grad_norm": out.get("grad_norm", float("nan")), "tokens_per_s": tps,
               "steps_per_s": window.n / elapsed}
        mfu = ""
        if peak:  # 6 N FLOPs per token (forward + backward), attention left out
            row["mfu"] = 6 * self.num_params * tps / (peak * self.env.world_size)
            mfu = f", MFU {row['mfu']:.1%}"
        logging.info(f"epoch {self.epoch} step {self.step}: loss {row['loss']:.4f}, top-10 {row['top10_accuracy']:.4f}, "
                     f"lr {row['lr']:.2e}, grad norm {row['grad_norm']:.2f}, {tps:.0f} tokens/s, "
                     f"{row['steps_per_s']:.2f} steps/s{mfu}")
        if self.env.main:
            self._log_scalars("train", row)

    def run(self) -> dict:
        """Train to ``num_steps`` (or ``stop_after`` more updates), validating, logging and saving on the way."""
        cfg = self.cfg
        resumed = self.resume()
        if self.env.main:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=self.step)
        logging.info(f"{cfg.model_type.upper()} model '{cfg.model_config}': {self.num_params / 1e6:.2f} M parameters, "
                     f"{self.env.world_size} rank(s) on {self.env.device}, dtype {self.dtype}; "
                     f"steps {self.step}->{cfg.num_steps}")
        if not resumed:
            self._validate_and_record()  # the starting point of the curves
        peak = peak_flops(self.env.device)
        window, bad = LogWindow(), 0
        start_time, steps_this_run = time.time(), 0
        batches, steps_this_epoch = None, 0
        bar = tqdm(total=cfg.num_steps, initial=self.step, disable=not self.env.main, desc=cfg.model_type,
                   mininterval=5, dynamic_ncols=True)
        try:
            while not self._stop(steps_this_run):
                if batches is None:
                    batches, steps_this_epoch = iter(self.train_batches()), 0
                micro = [next(batches, None) for _ in range(cfg.accum_grad)]
                out = self.train_step(micro)
                if out is None:  # this epoch's data is used up (on some rank): the next epoch starts
                    self._end_epoch(steps_this_epoch)
                    batches = None
                    continue
                self.batch_in_epoch += cfg.accum_grad
                self.step += 1
                steps_this_epoch += 1
                steps_this_run += 1
                bar.update(1)
                if out["skipped"]:
                    bad += 1
                    self._on_bad_batch(micro, bad)
                else:
                    bad = 0
                    window.add(out, sum(batch_tokens(b) for b in micro) * self.env.world_size)
                    self.history["train"].append({"step": self.step, "loss": out["loss"], "top10": out["top10"]})
                last = self._stop(steps_this_run)
                if (self.step % cfg.log_interval == 0 or last) and window.n:
                    self._log_train(window, out, peak)
                    window = LogWindow()
                if self.step % cfg.valid_interval == 0 or self.step == cfg.num_steps:
                    self._validate_and_record()
                if self.step % cfg.save_interval == 0 or last:
                    self.save_checkpoint()
            if self.step < cfg.num_steps:
                logging.info(f"stopping after {steps_this_run} updates (--stop-after); rerun to resume")
            return self.finish(time.time() - start_time)
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.close()

    def _stop(self, steps_this_run: int) -> bool:
        """The one stop condition: all updates done, or this run's share of them (``stop_after``)."""
        return self.step >= self.cfg.num_steps or 0 < self.cfg.stop_after <= steps_this_run

    def _end_epoch(self, steps_this_epoch: int) -> None:
        if steps_this_epoch == 0 and self.batch_in_epoch == 0:
            raise RuntimeError(f"epoch {self.epoch} gave no update: it has fewer than --accum-grad "
                               f"({self.cfg.accum_grad}) micro-batches per rank, or --max-batch is smaller than "
                               f"every example")
        logging.info(f"epoch {self.epoch} ended at step {self.step}")
        self.epoch_ends.append({"epoch": self.epoch, "step": self.step})
        self.epoch += 1
        self.batch_in_epoch = 0

    def finish(self, seconds: float) -> dict:
        valid = self.history["valid"]
        summary = {"model_type": self.cfg.model_type, "model_config": self.cfg.model_config,
                   "num_params": self.num_params, "steps": self.step, "epochs_started": self.epoch + 1,
                   "world_size": self.env.world_size, "dtype": self.dtype, "seconds_this_run": round(seconds, 1),
                   "first_valid": valid[0] if valid else None, "last_valid": valid[-1] if valid else None}
        if self.env.main and self.step >= self.cfg.num_steps:
            ckpt.save_model(self.exp_dir / "model.pt", self.cfg.model_type, self.model_config, self.phones,
                            self.model.state_dict(), {"step": self.step, "summary": summary,
                                                      "train_crop_max": self.cfg.crop_max, "codec": self.codec})
            write_text_atomic(self.exp_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
            logging.info(f"wrote {self.exp_dir / 'model.pt'}; summary: {json.dumps(summary)}")
        self.env.barrier()
        return summary


class LogWindow:
    """Sums over the updates since the last log line."""

    def __init__(self):
        self.inputs, self.loss, self.top10, self.n, self.t = 0, 0.0, 0.0, 0, time.time()

    def add(self, out: dict, tokens: int) -> None:
        self.loss += out["loss"]
        self.top10 += out["top10"]
        self.n += 1
        self.inputs += tokens


def train(cfg: TrainConfig) -> dict:
    trainer = Trainer(cfg)
    try:
        return trainer.run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
