"""Zero-shot synthesis: text + an audio prompt -> 24 kHz speech, in batches, in VALL-E's two prompt modes.

- ``cross``: cross-utterance (the paper's main protocol). The prompt is another utterance with its
  transcript: the AR model reads ``[prompt phones + target phones, EOS | prompt codebook 1]`` and
  continues; the NAR model gets all 8 codebooks of the prompt and the target's phones (as in training,
  where the NAR text is the target crop's phones and the prompt lies outside the target).
- ``continuation``: the prompt is the first ``prompt_seconds`` of the utterance to be spoken; the AR
  model reads the full transcript and the prompt's codebook 1 and continues the same utterance.
Only the generated frames are decoded (the prompt is not repeated in the output).
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from valle.codec.encodec import load_codec
from valle.data.dataset import text_vocab_size
from valle.infer.decode import DecodeConfig, generate_ar, generate_nar
from valle.infer.prompt import load_prompt_audio
from valle.infer.text import TextError, TextFrontend
from valle.train.checkpoint import CheckpointError, load_model

MODES = ("cross", "continuation")


@dataclass
class Request:
    text: str                          # what to say (continuation: the whole utterance's transcript)
    prompt_audio: Path
    prompt_text: Optional[str] = None  # cross mode: the prompt's transcript
    mode: str = "cross"


@dataclass
class Result:
    audio: np.ndarray                  # float32, 24 kHz
    hit_eos: bool                      # False: cut by the length guard (an EOS failure)
    num_frames: int
    num_phones: int


class Synthesizer:
    def __init__(self, ar_path: Path, nar_path: Path, codec_path: Path, lang_dir: Path, device: str = "cpu",
                 decode: DecodeConfig = DecodeConfig(), prompt_seconds: float = 3.0):
        self.device = torch.device(device)
        self.ar, ar_meta = load_model(ar_path, "ar")
        self.nar, nar_meta = load_model(nar_path, "nar")
        if ar_meta["phones"] != nar_meta["phones"]:
            raise CheckpointError(f"{ar_path} and {nar_path} were trained with different phone tables")
        self.phone_ids = ar_meta["phones"]
        self.eos = text_vocab_size(self.phone_ids) - 1
        self.ar.to(self.device)
        self.nar.to(self.device)
        self.codec = load_codec(codec_path, device=device)
        if self.codec.num_codebooks != self.ar.config.num_codebooks:
            raise CheckpointError(f"codec {codec_path} has {self.codec.num_codebooks} codebooks, the models "
                                  f"{self.ar.config.num_codebooks}")
        self.frontend = TextFrontend.from_lang_dir(lang_dir, self.phone_ids)
        self.decode = decode
        self.prompt_seconds = prompt_seconds

    def _prepare(self, req: Request):
        if req.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {req.mode!r}")
        audio = load_prompt_audio(req.prompt_audio)
        target = self.frontend.phones(req.text)
        if req.mode == "cross":
            if not req.prompt_text:
                raise TextError("cross-utterance mode needs the prompt's transcript (--prompt-text)")
            prompt_phones = self.frontend.phones(req.prompt_text)
            ar_phones = prompt_phones[:-1] + target[1:]   # one SIL at the junction, not two
        else:
            audio = audio[: int(self.prompt_seconds * 24000)]
            ar_phones = target
        codes = self.codec.encode_batch([audio])[0].astype(np.int64)       # [P, 8]
        return ar_phones, target, codes

    @torch.no_grad()
    def synthesize(self, requests: List[Request]) -> List[Result]:
        prepared = [self._prepare(r) for r in requests]
        B = len(prepared)
        ids = lambda phones: [self.phone_ids[p] for p in phones] + [self.eos]  # noqa: E731

        def pad(seqs, dtype=torch.long):
            lens = torch.tensor([len(s) for s in seqs])
            out = torch.zeros(B, int(lens.max()), *np.asarray(seqs[0]).shape[1:], dtype=dtype)
            for b, s in enumerate(seqs):
                out[b, : len(s)] = torch.as_tensor(np.asarray(s))
            return out.to(self.device), lens.to(self.device)

        ar_text, ar_lens = pad([ids(p[0]) for p in prepared])
        nar_text, nar_lens = pad([ids(p[1]) for p in prepared])
        prompt, prompt_lens = pad([p[2] for p in prepared])
        target_phones = torch.tensor([len(p[1]) - 2 for p in prepared], device=self.device).clamp(min=1)
        ar = generate_ar(self.ar, ar_text, ar_lens, prompt[..., 0], prompt_lens, target_phones, self.decode)
        first, code_lens = pad([c if len(c) else torch.zeros(1, dtype=torch.long) for c in ar.codes])
        codes = generate_nar(self.nar, nar_text, nar_lens, prompt, prompt_lens, first, code_lens, self.decode)
        results = []
        for b in range(B):
            n = len(ar.codes[b])
            audio = self.codec.decode(codes[b, :n].cpu().numpy()) if n else np.zeros(0, np.float32)
            results.append(Result(audio.astype(np.float32), ar.hit_eos[b], n, int(target_phones[b])))
        return results
