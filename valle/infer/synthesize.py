"""Zero-shot synthesis: text + an audio prompt -> 24 kHz speech, in batches, in VALL-E's two prompt modes.

- ``cross``: cross-utterance (the paper's main protocol). The prompt is another utterance with its
  transcript: the AR model reads ``[prompt phones + target phones, EOS | prompt codebook 1]`` and
  continues; the NAR model gets all 8 codebooks of the prompt and the target's phones (as in training,
  where the NAR text is the target crop's phones and the prompt lies outside the target).
- ``continuation``: the prompt is the beginning of the utterance to be spoken, with its transcript; the text
  is what follows it. The AR model reads ``[prompt phones + text phones, EOS | prompt codebook 1]`` with no
  pause at the junction (the words run on, as in the utterance) and continues; the NAR model gets the
  prompt's 8 codebooks and the text's phones. So the NAR reads the phones of the frames it fills in, as in
  training (where the prompt lies outside the target crop and the NAR text is the crop's phones only).
Only the generated frames are decoded, unless a continuation request asks to keep the prompt (then the
output is the whole utterance: the codec-decoded prompt followed by its continuation).

Long text: the AR model has seen sequences of at most the training crop (``train_crop_max`` seconds, kept
in model.pt). In cross mode a text whose phones would not fit beside the prompt at ``PHONES_PER_SECOND``
is split at sentence ends (then clauses, then words) and each piece is synthesized with the same prompt,
in the same batch; the pieces' audio is joined. A continuation must be one utterance: too long is an error.
"""
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
import torch

from valle.codec.encodec import codec_identity, load_codec
from valle.constants import CODEC_SAMPLE_RATE
from valle.codec.stream import StreamingDecoder
from valle.infer.config import StreamConfig
from valle.infer.decode import DecodeConfig, generate_ar, generate_nar, iter_ar
from valle.infer.prompt import load_prompt_audio
from valle.infer.text import TextError, TextFrontend, merge_repeats, split_text
from valle.text.lexicon import SIL
from valle.models.config import text_vocab_size
from valle.models.io import CheckpointError, load_model
from valle.utils.precision import autocast_to, inference_model, resolve_dtype

MODES = ("cross", "continuation")
PHONES_PER_SECOND = 12.0   # about LibriSpeech's speaking rate: sizes text pieces from seconds of training crop
DEFAULT_CROP_MAX = 20.0    # the paper's longest training crop, for model files that do not record theirs
PROMPT_CACHE_SIZE = 32     # prompts whose codes are kept: a voice used again skips the codec's encoder (a server,
                           # the demo, a batch file with one voice)


@dataclass
class Request:
    text: str                          # what to say (continuation: what follows the prompt's words)
    prompt_audio: Path
    prompt_text: Optional[str] = None  # the prompt's transcript (both modes)
    mode: str = "cross"
    keep_prompt: bool = False          # continuation: start the output with the (codec-decoded) prompt


@dataclass
class Result:
    audio: np.ndarray                  # float32, 24 kHz
    hit_eos: bool                      # False: cut by the length guard (an EOS failure)
    num_frames: int
    num_phones: int
    num_pieces: int = 1                # > 1: the text was split at sentence boundaries
    codes: Optional[np.ndarray] = None  # [num_frames, 8] the generated codes (the prompt's left out)


@dataclass
class AudioChunk:
    """One piece of streamed audio (:meth:`Synthesizer.stream`)."""
    audio: np.ndarray                  # float32, 24 kHz; may be empty (the first one of a continuation's prompt)
    piece: int                         # which piece of the text (cross mode splits long text)
    final: bool                        # the request's last chunk
    codes: Optional[np.ndarray] = None  # [n, 8] the generated frames the audio is made of (prompt frames left out)
    hit_eos: Optional[bool] = None     # on a piece's last chunk: False if the length guard cut it


class StreamClock:
    """Times a stream from its creation (the call): ``first_s``, when the first audio came, and ``stall_s``, how long
    after it playback must start never to wait for a chunk (the largest lag of a chunk behind the audio before it)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.first_s: Optional[float] = None
        self.stall_s = 0.0
        self.samples = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def add(self, audio: np.ndarray) -> None:
        """A chunk's audio has come, now."""
        if not len(audio):
            return
        now = self.elapsed()
        if self.first_s is None:
            self.first_s = now
        self.stall_s = max(self.stall_s, now - self.first_s - self.samples / CODEC_SAMPLE_RATE)
        self.samples += len(audio)


def check_codec(codec_path: Path, trained_on: dict) -> None:
    """Refuse a codec other than the one whose tokens the models learned (``trained_on``: {model: identity or
    None}; None: a model file from before models recorded it, not checked)."""
    here = codec_identity(codec_path)
    for model, ident in trained_on.items():
        if ident and ident.get("sha256") != here["sha256"]:
            raise CheckpointError(f"the {model} model was trained on the tokens of another codec ({ident.get('kind')} "
                                  f"{ident.get('sha256')} from {ident.get('path')}) than {codec_path} "
                                  f"({here['kind']} {here['sha256']}): its codes would decode to noise. Use the "
                                  "tokens/codec.pt of the data the models were trained on")


def _pad(seqs, device: torch.device):
    """Sequences (lists, arrays or tensors of one trailing shape) -> (``[B, max length, ...]`` long tensor padded with
    0, lengths ``[B]``), on ``device``."""
    lens = torch.tensor([len(s) for s in seqs])
    out = torch.zeros(len(seqs), int(lens.max()), *np.asarray(seqs[0]).shape[1:], dtype=torch.long)
    for b, s in enumerate(seqs):
        out[b, : len(s)] = torch.as_tensor(np.asarray(s))
    return out.to(device), lens.to(device)


def _spoken(phones: List[str]) -> int:
    """Phones to be spoken (what the length guards scale with): all but the SIL at either end."""
    return len(phones) - (phones[:1] == [SIL]) - (len(phones) > 1 and phones[-1] == SIL)


class Synthesizer:
    def __init__(self, ar_path: Path, nar_path: Path, codec_path: Path, lang_dir: Path, device: str = "cpu",
                 decode: DecodeConfig = DecodeConfig(), max_phones: Optional[int] = None):
        """max_phones: the longest AR phone sequence (prompt + target) to decode at once; default: the AR
        model's training crop at PHONES_PER_SECOND."""
        self.device = torch.device(device)
        self.ar, ar_meta = load_model(ar_path, "ar")
        self.nar, nar_meta = load_model(nar_path, "nar")
        if ar_meta["phones"] != nar_meta["phones"]:
            raise CheckpointError(f"{ar_path} and {nar_path} were trained with different phone tables")
        self.phone_ids = ar_meta["phones"]
        self.eos = text_vocab_size(self.phone_ids) - 1
        self.ar = inference_model(self.ar.to(self.device), decode.dtype, decode.int8)
        self.nar = inference_model(self.nar.to(self.device), decode.dtype, decode.int8)
        check_codec(codec_path, {"AR": ar_meta.get("codec"), "NAR": nar_meta.get("codec")})
        self.codec = load_codec(codec_path, device=device)
        if self.codec.num_codebooks != self.ar.config.num_codebooks:
            raise CheckpointError(f"codec {codec_path} has {self.codec.num_codebooks} codebooks, the models "
                                  f"{self.ar.config.num_codebooks}")
        self.frontend = TextFrontend.from_lang_dir(lang_dir, self.phone_ids)
        self.decode = decode
        # The codec decoder computes in the models' dtype (autocast); int8 layers mean float32 activations.
        self.codec_dtype = "float32" if decode.int8 else resolve_dtype(decode.dtype, self.device)
        self.max_phones = max_phones or int(ar_meta.get("train_crop_max", DEFAULT_CROP_MAX) * PHONES_PER_SECOND)
        self._prompt_cache: "OrderedDict[str, np.ndarray]" = OrderedDict()

    def prompt_codes(self, path: Path) -> np.ndarray:
        """The codes ``[P, 8]`` of a prompt file, encoded once per content (sha256 of the file's bytes) while it is
        among the last ``PROMPT_CACHE_SIZE`` prompts used."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt audio {path}: no such file")
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        codes = self._prompt_cache.get(key)
        if codes is None:
            codes = self.codec.encode_batch([load_prompt_audio(path)])[0].astype(np.int64)
            self._prompt_cache[key] = codes
            if len(self._prompt_cache) > PROMPT_CACHE_SIZE:
                self._prompt_cache.popitem(last=False)
        self._prompt_cache.move_to_end(key)
        return codes

    def _prepare(self, req: Request) -> List[tuple]:
        """-> one (AR phones, target phones, prompt codes [P, 8], keep_prompt) per piece of the text."""
        if req.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {req.mode!r}")
        codes = self.prompt_codes(req.prompt_audio)       # [P, 8]
        if not req.prompt_text:
            raise TextError(f"{req.mode} mode needs the prompt's transcript (--prompt-text)")
        prompt_phones = self.frontend.phones(req.prompt_text)
        budget = self.max_phones - len(prompt_phones)
        if budget < 8:
            raise TextError(f"the prompt's transcript has {len(prompt_phones)} phones: too long for the model "
                            f"(at most {self.max_phones} phones in all); use a shorter prompt")
        whole = self.frontend.phones(req.text)
        if req.mode == "cross":
            if len(whole) - 2 <= budget:   # the usual case: no piece to count again
                targets = [whole]
            else:
                texts = split_text(req.text, lambda t: len(self.frontend.phones(t)) - 2, budget)
                targets = [self.frontend.phones(t) for t in texts]
            ar = [prompt_phones + target[1:] for target in targets]   # one SIL between them, not two
        else:
            if len(whole) - 2 > budget:
                raise TextError(f"the prompt and the text have {len(prompt_phones) + len(whole) - 2} phones, more "
                                f"than the {self.max_phones} the model handles in one utterance; cross mode splits "
                                "long text at sentence ends")
            # No SIL where the prompt stops and the text goes on (the prompt was cut at a word's end), and a phone
            # repeated across the junction is one phone, as everywhere in the training sequences.
            tail = whole[1:]
            ar = [merge_repeats(prompt_phones[:-1] + tail)]
            targets = [tail]                # the NAR reads the phones of the frames it fills in
        # A grouped AR model reads whole groups: the prompt starts at its first frame that leaves a multiple of G
        # (at most G - 1 frames, 13 ms each, dropped from the start).
        codes = codes[len(codes) % self.ar.config.ar_group_size:]
        keep = req.keep_prompt and req.mode == "continuation"
        return [(a, t, codes, keep) for a, t in zip(ar, targets)]

    @torch.no_grad()
    def synthesize(self, requests: List[Request]) -> List[Result]:
        plans = [self._prepare(r) for r in requests]
        pieces = self._synthesize([piece for plan in plans for piece in plan])
        results, i = [], 0
        for plan in plans:
            mine, i = pieces[i:i + len(plan)], i + len(plan)
            results.append(Result(np.concatenate([r.audio for r in mine]), all(r.hit_eos for r in mine),
                                  sum(r.num_frames for r in mine), sum(r.num_phones for r in mine), len(mine),
                                  np.concatenate([r.codes for r in mine])))
        return results

    @torch.no_grad()
    def stream(self, request: Request, config: StreamConfig = StreamConfig()) -> Iterator[AudioChunk]:
        """One request's audio in chunks, each as soon as it is final, while the AR model goes on.

        The AR output is cut into chunks of ``config.first_frames`` frames, doubling up to ``config.max_frames``.
        When a chunk's frames and ``config.nar_lookahead`` more are out, the NAR model predicts codebooks 2-8 of
        every frame so far (those of earlier chunks kept as they were handed on) and the codec decodes the chunk
        with left context (:class:`~valle.codec.stream.StreamingDecoder`). The AR codes are those of
        :meth:`synthesize` (the same sampling, step for step); the NAR, seeing fewer frames after a chunk, may
        choose other codes for its last frames (and with ``nar_greedy`` off its draws differ), and the codec joins
        chunks within the tolerances stated in ``valle/codec/stream.py`` (README, 'Streaming synthesis'). Pieces of a
        long cross-mode text follow one another.
        """
        pieces = self._prepare(request)
        for i, piece in enumerate(pieces):
            yield from self._stream_piece(piece, i, i == len(pieces) - 1, config)

    def _stream_piece(self, piece: tuple, index: int, last: bool, config: StreamConfig) -> Iterator[AudioChunk]:
        (ar_text, ar_lens), (nar_text, nar_lens), (prompt, prompt_lens), target_phones = self._tensors([piece])
        decoder = StreamingDecoder(self.codec)

        def chunk(codes: np.ndarray, final: bool, generated: bool = True, hit_eos=None) -> AudioChunk:
            with autocast_to(self.codec_dtype, self.device):
                audio = decoder.push(codes, final)
            return AudioChunk(audio.astype(np.float32), index, final and last, codes if generated else codes[:0],
                              hit_eos)

        prompt_codes, keep_prompt = piece[2], piece[3]
        if keep_prompt:
            yield chunk(prompt_codes, False, generated=False)
        known = torch.zeros(1, 0, prompt.shape[2], dtype=torch.long, device=self.device)   # frames handed on
        size = config.first_frames
        for progress in iter_ar(self.ar, ar_text, ar_lens, prompt[..., 0], prompt_lens, target_phones, self.decode):
            n, done = len(progress.codes[0]), progress.finished[0]
            ready = n if done else n - config.nar_lookahead
            if not done and ready - known.shape[1] < size:
                continue
            if n:
                first = torch.tensor(progress.codes[0], dtype=torch.long, device=self.device)[None]
                codes = generate_nar(self.nar, nar_text, nar_lens, prompt, prompt_lens, first,
                                     torch.tensor([n], device=self.device), self.decode, known=known)
                new, known = codes[0, known.shape[1]:ready], codes[:, :ready]
            else:
                new = known[0, :0]
            yield chunk(new.cpu().numpy(), done, hit_eos=progress.hit_eos[0] if done else None)
            size = min(2 * size, config.max_frames)

    def _tensors(self, prepared: List[tuple]):
        """Batched model inputs of prepared pieces: (AR text, lengths), (NAR text, lengths), (prompt codes
        [B, P, 8], lengths), phones to speak [B]."""
        ids = lambda phones: [self.phone_ids[p] for p in phones] + [self.eos]  # noqa: E731
        target_phones = torch.tensor([_spoken(p[1]) for p in prepared], device=self.device).clamp(min=1)
        return (_pad([ids(p[0]) for p in prepared], self.device), _pad([ids(p[1]) for p in prepared], self.device),
                _pad([p[2] for p in prepared], self.device), target_phones)

    def _synthesize(self, prepared: List[tuple]) -> List[Result]:
        (ar_text, ar_lens), (nar_text, nar_lens), (prompt, prompt_lens), target_phones = self._tensors(prepared)
        ar = generate_ar(self.ar, ar_text, ar_lens, prompt[..., 0], prompt_lens, target_phones, self.decode)
        first, code_lens = _pad([c if len(c) else torch.zeros(1, dtype=torch.long) for c in ar.codes], self.device)
        codes = generate_nar(self.nar, nar_text, nar_lens, prompt, prompt_lens, first, code_lens, self.decode)
        results = []
        for b, (_, _, prompt_codes, keep_prompt) in enumerate(prepared):
            n = len(ar.codes[b])
            generated = codes[b, :n].cpu().numpy()
            frames = np.concatenate([prompt_codes, generated]) if keep_prompt else generated
            with autocast_to(self.codec_dtype, self.device):
                audio = self.codec.decode(frames) if len(frames) else np.zeros(0, np.float32)
            results.append(Result(audio.astype(np.float32), ar.hit_eos[b], n, int(target_phones[b]), 1, generated))
        return results
