"""Training data for VALL-E: stage-3 alignments joined with stage-4 codes, cropped at phone boundaries.

One training example = one supervision (LibriSpeech: the utterance; LibriLight: a voice-activity
segment) whose ``tts_phone`` alignment gives the phone sequence with times on the recording's timeline.

- Crops: a random span of ``min_seconds``..``max_seconds`` (the paper: 10-20 s), starting and ending at
  phone boundaries, so the phones and the 75 Hz codes of a crop describe the same audio. Shorter
  examples are used whole (the clamp for short corpora).
- NAR prompt: a random ``prompt_seconds`` (3 s) window of all 8 codebooks from the same utterance, never
  overlapping the target: taken beside the crop when the utterance has room, otherwise the crop is split
  at a phone boundary into a prompt (its first ~3 s, at most half of it) and the target (the rest, with
  only its own phones as text).
- The NAR stage (which codebook to predict, 2..8) is drawn per example.
- Randomness comes from ``random.Random(f"{seed}:{epoch}:{cut_id}")``: identical in every DataLoader
  worker and after a resume, without any RNG state to save.
"""
import dataclasses
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from lhotse import CutSet, load_manifest_lazy
from lhotse.dataset.sampling.base import TimeConstraint

from valle.constants import CODEC_FRAME_RATE as FRAME_RATE
from valle.models.config import text_vocab_size
from valle.utils.io import atomic_path


@dataclass(frozen=True)
class CropConfig:
    min_seconds: float = 10.0
    max_seconds: float = 20.0
    prompt_seconds: float = 3.0

    def __post_init__(self):
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError(f"need 0 < crop min ({self.min_seconds}) <= max ({self.max_seconds})")
        if self.prompt_seconds <= 0:
            raise ValueError("prompt_seconds must be positive")


def load_training_cuts(aligned: Sequence[Path], tokens: Sequence[Path], min_phones: int = 2) -> Tuple[CutSet, Counter]:
    """Join aligned cuts (stage 3) with token cuts (stage 4) by cut id; one cut per supervision.

    Returns the cuts and counts of what was kept and left out (and why). Each cut carries
    ``codes`` (the recording's codes), ``codes_origin`` (recording time of codes frame 0) and the
    supervision with its ``tts_phone`` alignment (recording timeline).
    """
    stats = Counter()
    token_cuts = {}
    for path in tokens:
        for c in load_manifest_lazy(path):
            token_cuts[c.id] = c
    out = []
    for path in aligned:
        for cut in load_manifest_lazy(path):
            tc = token_cuts.get(cut.id)
            if tc is None or tc.custom is None or "codes" not in tc.custom:
                stats["no codes (stage 4)"] += 1
                continue
            for sup in cut.supervisions:
                phones = (sup.alignment or {}).get("tts_phone")
                if not phones:
                    stats["no tts_phone alignment"] += 1
                    continue
                if len(phones) < min_phones:
                    stats[f"fewer than {min_phones} phones"] += 1
                    continue
                piece = cut.truncate(offset=sup.start - cut.start, duration=sup.duration,
                                     keep_excessive_supervisions=False, _supervisions_index=None)
                piece = dataclasses.replace(piece, id=f"{cut.id}#{sup.id}" if len(cut.supervisions) > 1 else cut.id)
                piece.supervisions = [sup]      # times (and alignment) stay on the recording timeline
                piece.custom = dict(piece.custom or {})
                piece.custom["codes"] = tc.codes
                piece.custom["codes_origin"] = tc.start
                out.append(piece)
                stats["kept"] += 1
    return CutSet.from_cuts(out), stats


@dataclass
class CropAwareConstraint(TimeConstraint):
    """lhotse TimeConstraint that counts each cut at its cropped size (``min(duration, max_crop)``).

    ``unit="seconds"``: ``max_duration`` is seconds of audio per batch; ``unit="tokens"``: it is model
    tokens per batch (75 codes per second + phones). Batches are ``num_cuts * longest`` (padding
    included), with lhotse's ``quadratic_duration`` correction for attention cost.
    """

    max_crop_seconds: float = math.inf
    unit: str = "seconds"

    def measure_length(self, cut) -> float:
        seconds = min(cut.duration, self.max_crop_seconds)
        if self.unit == "seconds":
            return seconds
        phones = len(cut.supervisions[0].alignment["tts_phone"]) * seconds / max(cut.duration, 1e-6)
        return seconds * FRAME_RATE + phones

    def add(self, cut) -> None:
        if self.max_duration is not None:
            size = self._maybe_apply_quadratic_correction(self.measure_length(cut))
            self.current += size
            self.longest_seen = max(self.longest_seen, size)
        self.num_cuts += 1


def _frame(t: float, origin: float, num_frames: int) -> int:
    return min(max(int(round((t - origin) * FRAME_RATE)), 0), num_frames)


def choose_crop(bounds: List[float], rng: random.Random, crop: CropConfig, train: bool) -> Tuple[int, int]:
    """Phone index span [i, j) whose duration bounds[j] - bounds[i] is a random target in
    [min, max] seconds (whole utterance when shorter). ``bounds`` are the n+1 phone boundaries."""
    n = len(bounds) - 1
    total = bounds[-1] - bounds[0]
    target = rng.uniform(crop.min_seconds, crop.max_seconds) if train else crop.max_seconds
    if total <= target:
        return 0, n
    starts = [i for i in range(n) if bounds[-1] - bounds[i] >= target] if train else [0]
    i = rng.choice(starts)
    j = i + 1
    while j < n and bounds[j + 1] - bounds[i] <= target:
        j += 1
    return i, j


class ValleDataset(torch.utils.data.Dataset):
    """lhotse-style map dataset: ``dataset[cuts]`` -> a padded batch dict (see :meth:`__getitem__`)."""

    def __init__(self, phone_ids: Dict[str, int], model_type: str, crop: CropConfig = CropConfig(),
                 num_codebooks: int = 8, seed: int = 0, train: bool = True):
        if model_type not in ("ar", "nar"):
            raise ValueError(f"model_type must be ar or nar, got {model_type}")
        self.phone_ids = phone_ids
        self.eos = text_vocab_size(phone_ids) - 1
        self.model_type = model_type
        self.crop = crop
        self.num_codebooks = num_codebooks
        self.seed = seed
        self.train = train
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def example(self, cut) -> dict:
        """Crop one cut: phone ids, target codes [T, 8], NAR prompt codes [P, 8] and stage."""
        rng = random.Random(f"{self.seed}:{self.epoch if self.train else 0}:{cut.id}")
        sup = cut.supervisions[0]
        items = sup.alignment["tts_phone"]
        origin = float(cut.custom.get("codes_origin", 0.0))
        # Codes of the supervision's span only (partial HDF5 read), frames counted from `first`.
        total_frames = cut.codes.shape[0]
        first = _frame(items[0].start, origin, total_frames)
        last = _frame(items[-1].end, origin, total_frames)
        codes = cut.codes.load(start=first / FRAME_RATE, duration=(last - first) / FRAME_RATE)
        codes = codes[: last - first, : self.num_codebooks]
        if codes.shape[0] < last - first:   # lhotse's rounding may drop the last frame: repeat it
            codes = np.concatenate([codes, np.repeat(codes[-1:], last - first - codes.shape[0], 0)])
        bounds = [it.start for it in items] + [items[-1].end]
        frames = [_frame(t, origin, total_frames) - first for t in bounds]
        i, j = choose_crop(bounds, rng, self.crop, self.train)
        prompt = codes[:0]
        if self.model_type == "nar":
            i, prompt = self._nar_prompt(codes, frames, bounds, i, j, rng)
        try:
            phones = [self.phone_ids[it.symbol] for it in items[i:j]]
        except KeyError as e:
            raise ValueError(f"cut {cut.id}: phone {e} is not in the phone table (stage 2 and 3 out of sync?)")
        target = codes[frames[i]:frames[j]]
        if len(target) == 0:
            raise ValueError(f"cut {cut.id}: empty crop of phones {i}..{j}")
        stage = rng.randrange(1, self.num_codebooks)
        return {"text": phones + [self.eos], "codes": target, "prompt": prompt, "stage": stage}

    def _nar_prompt(self, codes, frames, bounds, i, j, rng):
        """A prompt window of ``prompt_seconds`` not overlapping the target crop [i, j)."""
        want = int(round(self.crop.prompt_seconds * FRAME_RATE))
        rooms = [(0, frames[i]), (frames[j], len(codes))]
        rooms = [(a, b) for a, b in rooms if b - a >= want]
        if rooms:
            a, b = rooms[rng.randrange(len(rooms))] if self.train else rooms[0]
            start = rng.randint(a, b - want) if self.train else a
            return i, codes[start:start + want]
        # No room beside the crop: its first part (~prompt_seconds, at most half) becomes the prompt.
        if j - i < 2:
            return i, codes[:0]
        limit = min(self.crop.prompt_seconds, (bounds[j] - bounds[i]) / 2)
        k = i + 1
        while k + 1 < j and bounds[k + 1] - bounds[i] <= limit:
            k += 1
        return k, codes[frames[i]:frames[k]]

    def __getitem__(self, cuts: CutSet) -> dict:
        """Batch: text [B, Lx] (phone ids + EOS, 0-padded), text_lens [B], codes [B, T, 8], code_lens,
        prompt [B, P, 8], prompt_lens (0 for AR), stages [B] (NAR codebook 1..7, 0-based), cut_ids."""
        examples = [self.example(c) for c in cuts]
        B = len(examples)
        K = self.num_codebooks
        text_lens = torch.tensor([len(e["text"]) for e in examples])
        code_lens = torch.tensor([len(e["codes"]) for e in examples])
        prompt_lens = torch.tensor([len(e["prompt"]) for e in examples])
        text = torch.zeros(B, int(text_lens.max()), dtype=torch.long)
        codes = torch.zeros(B, int(code_lens.max()), K, dtype=torch.long)
        prompt = torch.zeros(B, max(int(prompt_lens.max()), 1), K, dtype=torch.long)
        for b, e in enumerate(examples):
            text[b, : len(e["text"])] = torch.tensor(e["text"])
            codes[b, : len(e["codes"])] = torch.from_numpy(e["codes"].astype(np.int64))
            if len(e["prompt"]):
                prompt[b, : len(e["prompt"])] = torch.from_numpy(e["prompt"].astype(np.int64))
        return {"text": text, "text_lens": text_lens, "codes": codes, "code_lens": code_lens,
                "prompt": prompt, "prompt_lens": prompt_lens,
                "stages": torch.tensor([e["stage"] for e in examples]),
                "cut_ids": [c.id for c in cuts]}


def write_training_cuts(aligned: Sequence[Path], tokens: Sequence[Path], out: Path, name: str) -> None:
    """The joined training cuts of ``load_training_cuts``, written to ``out``; ``name`` (train/valid) for messages."""
    missing = [str(p) for p in [*aligned, *tokens] if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"expected {missing} (stage 3 writes aligned/, stage 4 tokens/)")
    cuts, stats = load_training_cuts(aligned, tokens)
    left_out = {k: v for k, v in stats.items() if k != "kept"}
    logging.info(f"{name} data: {stats['kept']} examples; left out: {left_out or 'none'}")
    if stats["kept"] == 0:
        raise ValueError(f"no {name} examples: every cut lacked codes or alignments ({left_out})")
    with atomic_path(out) as tmp:
        cuts.to_file(tmp)
