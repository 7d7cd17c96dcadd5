"""Training data for VALL-E: examples of the training-data build (valle/data/tts_data.py), cropped at phone boundaries.

One example is one line of a shard: a cut whose ``phones`` / ``phone_frames`` give the TTS phone sequence and
its boundaries as frames of the recording's 75 Hz codes (LibriSpeech: an utterance; LibriLight: voice-activity
segments joined into up to 20 s).

- Crops: a random span of ``min_seconds``..``max_seconds`` (the paper: 10-20 s), starting and ending at
  phone boundaries, so the phones and the 75 Hz codes of a crop describe the same audio. Shorter
  examples are used whole (the clamp for short corpora).
- NAR prompt: a random ``prompt_seconds`` (3 s) window of all 8 codebooks from the same example, never
  overlapping the target: taken beside the crop when the example has room, otherwise the crop is split
  at a phone boundary into a prompt (its first ~3 s, at most half of it) and the target (the rest, with
  only its own phones as text).
- The NAR stage (which codebook to predict, 2..8) is drawn per example.
- Randomness comes from ``random.Random(f"{seed}:{epoch}:{cut_id}")``: identical in every DataLoader
  worker and after a resume, without any RNG state to save.
"""
import math
import random
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import torch
from lhotse import CutSet
from lhotse.dataset.sampling.base import TimeConstraint

from valle.constants import CODEC_FRAME_RATE as FRAME_RATE
from valle.models.config import text_vocab_size


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
        phones = num_phones(cut) * seconds / max(cut.duration, 1e-6)
        return seconds * FRAME_RATE + phones

    def add(self, cut) -> None:
        if self.max_duration is not None:
            size = self._maybe_apply_quadratic_correction(self.measure_length(cut))
            self.current += size
            self.longest_seen = max(self.longest_seen, size)
        self.num_cuts += 1


def num_phones(cut) -> int:
    return cut.custom["phones"].count(" ") + 1


def load_frames(codes, first: int, last: int) -> np.ndarray:
    """Frames [first, last) of a codes TemporalArray (indices of the array; partial HDF5 read). The read is asked
    for in seconds on the recording's timeline (the array starts at ``codes.start``); lhotse's rounding may give
    one frame too few, and the last is then repeated."""
    out = codes.load(start=codes.start + first / FRAME_RATE, duration=(last - first) / FRAME_RATE)[: last - first]
    if out.shape[0] < last - first:
        out = np.concatenate([out, np.repeat(out[-1:], last - first - out.shape[0], 0)])
    return out


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
        symbols = cut.custom["phones"].split()
        absolute = [int(f) for f in cut.custom["phone_frames"].split()]
        if len(absolute) != len(symbols) + 1:
            raise ValueError(f"cut {cut.id}: {len(symbols)} phones but {len(absolute)} boundaries (expected one more)")
        first, last = absolute[0], absolute[-1]
        codes = load_frames(cut.codes, first, last)[:, : self.num_codebooks]
        frames = [f - first for f in absolute]           # frames of the loaded span
        bounds = [f / FRAME_RATE for f in frames]        # seconds, for choosing crop lengths
        i, j = choose_crop(bounds, rng, self.crop, self.train)
        prompt = codes[:0]
        if self.model_type == "nar":
            i, prompt = self._nar_prompt(codes, frames, bounds, i, j, rng)
        try:
            phones = [self.phone_ids[p] for p in symbols[i:j]]
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
