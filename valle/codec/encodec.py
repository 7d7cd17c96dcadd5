"""EnCodec 24 kHz (the codec of VALL-E): load real weights or a corpus-fitted random model; encode
batches of variable-length audio to int16 codes [T, K]; decode codes to audio.

Weights, in this order: an explicit checkpoint path (a real EnCodec state dict, or a codec saved by
``Codec.save``), the torch hub cache, a download when online. With none reachable, ``fit_random_codec``
builds the same architecture with random weights and fits its quantizer codebooks to the corpus by
k-means, because a fresh EnCodec quantizer has all-zero codebooks and emits code 0 everywhere. Such
a codec exercises the whole recipe, but its audio is not speech: it is marked ``real_weights=False``.
"""
import contextlib
import hashlib
import logging
import math
import socket
import sys
import types
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np
import torch

from valle.constants import CODEC_FRAME_RATE as FRAME_RATE
from valle.constants import CODEC_HOP_LENGTH as HOP_LENGTH
from valle.constants import CODEC_SAMPLE_RATE as SAMPLE_RATE
from valle.utils.io import UnsafeFileError, atomic_path, load_torch_file

CODEBOOK_SIZE = 1024
CHECKPOINT_NAME = "encodec_24khz-d7cc33bc.th"
CHECKPOINT_URL = f"https://dl.fbaipublicfiles.com/encodec/v0/{CHECKPOINT_NAME}"
FORMAT_VERSION = 1
MIN_FIT_FRAMES = 8192


@contextlib.contextmanager
def _torchaudio_for_encodec():
    """Let ``import encodec`` succeed where torchaudio cannot be loaded.

    encodec's utils module imports torchaudio at the top, but uses it only in helpers we never call
    (convert_audio, save_audio: we resample with lhotse). PyPI's torchaudio is a CUDA build that fails
    to load against a CPU torch, and an installed-but-broken torchaudio also breaks lhotse's audio
    backends, so it must stay out of the environment. Where torchaudio imports fine, nothing changes.
    Otherwise a placeholder module stands in during ``import encodec`` only and is removed right
    after, so other libraries still see torchaudio as absent.
    """
    try:
        import torchaudio  # noqa: F401
        yield
        return
    except (ImportError, OSError):
        pass
    placeholder = types.ModuleType("torchaudio")
    placeholder.__getattr__ = _torchaudio_missing  # any use fails with a clear message
    sys.modules["torchaudio"] = placeholder
    try:
        yield
    finally:
        if sys.modules.get("torchaudio") is placeholder:
            del sys.modules["torchaudio"]


def _torchaudio_missing(name):
    raise ImportError(f"torchaudio.{name} is not available here; the recipe resamples with lhotse instead")


def encodec_model_class():
    with _torchaudio_for_encodec():
        from encodec import EncodecModel
    return EncodecModel


@dataclass
class CodecInfo:
    real_weights: bool
    source: str  # where the weights came from
    bandwidth: float
    num_codebooks: int
    sample_rate: int = SAMPLE_RATE
    frame_rate: float = FRAME_RATE
    fitted_on_seconds: float = 0.0  # random codec only: audio its codebooks were fitted to
    seed: Optional[int] = None
    kind: str = "encodec"  # or "mel_rvq" (valle/codec/mel_rvq.py)


class Codec:
    def __init__(self, model: torch.nn.Module, info: CodecInfo, device: Union[str, torch.device] = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.info = info
        self.device = torch.device(device)
        self.dtype = dtype
        self.model.set_target_bandwidth(info.bandwidth)

    @property
    def num_codebooks(self) -> int:
        return self.info.num_codebooks

    @staticmethod
    def num_frames(num_samples: int) -> int:
        """Code frames EnCodec produces for ``num_samples`` samples at 24 kHz."""
        return math.ceil(num_samples / HOP_LENGTH)

    @torch.no_grad()
    def encode_batch(self, waveforms: Sequence[np.ndarray]) -> List[np.ndarray]:
        """1-D float waveforms at 24 kHz -> int16 codes [T_i, K] each, T_i = ceil(len_i / 320).

        The batch is right-padded with zeros. The 24 kHz EnCodec is causal (convolutions padded on
        the left, a unidirectional LSTM), so padding after an utterance cannot change its frames: in
        float64 batched and one-by-one codes are identical (tested). In float32, batched kernels round
        differently and flip near-tie codebook choices: with the fitted random codec, under 1 % of
        frames (measured in tests/test_codec.py); stage 4 encodes one cut at a time by default.
        """
        lengths = [len(w) for w in waveforms]
        if min(lengths) == 0:
            raise ValueError("empty waveform in batch")
        batch = torch.zeros(len(waveforms), 1, max(lengths), dtype=self.dtype)
        for i, w in enumerate(waveforms):
            batch[i, 0, : len(w)] = torch.as_tensor(w, dtype=self.dtype)
        codes, _ = self.model._encode_frame(batch.to(self.device))  # [B, K, T]; 24 kHz: no segmenting
        codes = codes.to("cpu", torch.int16).numpy()
        return [codes[i, :, : self.num_frames(n)].T.copy() for i, n in enumerate(lengths)]

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int codes [T, K] -> float32 waveform at 24 kHz (length T * 320)."""
        codes = torch.as_tensor(np.asarray(codes, dtype=np.int64)).T[None].to(self.device)  # [1, K, T]
        return self.model.decode([(codes, None)])[0, 0].float().cpu().numpy()

    def save(self, path: Union[str, Path]) -> None:
        with atomic_path(path) as tmp:
            state = {k: v.float() if v.is_floating_point() else v for k, v in self.model.state_dict().items()}
            torch.save({"format": "valle-codec", "format_version": FORMAT_VERSION, "info": asdict(self.info),
                        "state_dict": state}, tmp)


def new_model():
    with warnings.catch_warnings():  # encodec uses torch.nn.utils.weight_norm, deprecated in torch 2.x
        warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
        return encodec_model_class().encodec_model_24khz(pretrained=False)


def _num_codebooks(model, bandwidth: float) -> int:
    return model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, bandwidth)


def codec_identity(codec_path: Union[str, Path]) -> dict:
    """What names the codec tokens came from: its kind (codec.json beside it, written with it) and the sha256 of
    codec.pt. Stage 5 records it with the training data, training in model.pt, and synthesis refuses a codec whose
    digest differs (codes from one codec decoded by another are noise)."""
    import hashlib
    import json

    path = Path(codec_path)
    meta = path.with_name("codec.json")
    kind = json.loads(meta.read_text()).get("kind", "encodec") if meta.is_file() else None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return {"kind": kind, "sha256": digest, "path": str(path)}


def load_codec(checkpoint: Optional[Union[str, Path]] = None, bandwidth: Optional[float] = None, device: str = "cpu",
               allow_download: bool = True, download_timeout: float = 20.0,
               dtype: torch.dtype = torch.float32) -> Optional[Codec]:
    """The real EnCodec (or a codec saved by ``Codec.save``), or None when no weights are reachable.

    ``checkpoint`` given: it must load (a missing or unreadable file is an error, not a fallback).
    Otherwise the torch hub cache, then a download (when ``allow_download``). ``bandwidth`` None:
    the one a saved codec was made with, else 6 kbps (8 codebooks, as in VALL-E).
    """
    if checkpoint is not None:
        return _codec_from_file(Path(checkpoint), bandwidth, device, dtype)
    bandwidth = 6.0 if bandwidth is None else bandwidth
    cached = Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME
    if cached.is_file():
        return _codec_from_file(cached, bandwidth, device, dtype)
    if allow_download:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(download_timeout)
        try:
            state = torch.hub.load_state_dict_from_url(CHECKPOINT_URL, map_location="cpu", check_hash=True,
                                                       weights_only=True)
        except Exception as e:  # offline, DNS failure, HTTP error, bad hash
            logging.warning(f"could not download EnCodec weights from {CHECKPOINT_URL}: {type(e).__name__}: {e}")
            return None
        finally:
            socket.setdefaulttimeout(previous)
        model = new_model()
        model.load_state_dict(state)
        return Codec(model, CodecInfo(True, CHECKPOINT_URL, bandwidth, _num_codebooks(model, bandwidth)), device, dtype)
    return None


def _codec_from_file(path: Path, bandwidth: Optional[float], device: str, dtype: torch.dtype) -> Codec:
    if not path.is_file():
        raise FileNotFoundError(f"codec checkpoint {path} does not exist")
    try:
        obj = load_torch_file(path)
    except UnsafeFileError:
        raise
    except Exception as e:
        raise ValueError(f"cannot read codec checkpoint {path}: {type(e).__name__}: {e}") from e
    if isinstance(obj, dict) and obj.get("format") == "valle-codec":
        if obj.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: codec format version {obj.get('format_version')}, expected {FORMAT_VERSION}")
        info = CodecInfo(**obj["info"])
        if info.kind == "mel_rvq":
            from valle.codec.mel_rvq import MelRvqCodec
            return MelRvqCodec.from_saved(obj, info, device)
        state = obj["state_dict"]
    else:  # a state dict as published with EnCodec
        info, state = None, obj
    model = new_model()
    if info is None:
        bandwidth = 6.0 if bandwidth is None else bandwidth
        info = CodecInfo(True, str(path), bandwidth, _num_codebooks(model, bandwidth))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{path} is not an EnCodec 24 kHz checkpoint: {e}") from e
    if bandwidth is not None and info.bandwidth != bandwidth:
        info = CodecInfo(**{**asdict(info), "bandwidth": bandwidth, "num_codebooks": _num_codebooks(model, bandwidth)})
    return Codec(model, info, device, dtype)


# ---------------------------------------------------------------------------------------------
# A random-weights EnCodec with codebooks fitted to the corpus.

def kmeans(x: torch.Tensor, k: int, iters: int = 20, generator: Optional[torch.Generator] = None,
           chunk: int = 8192) -> torch.Tensor:
    """Lloyd's k-means on rows of ``x`` [N, D] from k-means++ seeds; distances by matmul in chunks
    (memory O(chunk * k)). Empty clusters are re-seeded with the points farthest from their centroid.
    """
    n = x.shape[0]
    if n < k:
        raise ValueError(f"need at least {k} vectors to fit {k} codes, got {n}")
    centroids = _kmeans_plus_plus(x, k, generator)
    for _ in range(iters):
        assign, dist = _nearest(x, centroids, chunk)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        nonempty = counts > 0
        centroids[nonempty] = sums[nonempty] / counts[nonempty, None]
        empty = (~nonempty).nonzero().flatten()
        if len(empty):
            centroids[empty] = x[dist.topk(len(empty)).indices]
    return centroids


def _kmeans_plus_plus(x: torch.Tensor, k: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Seeds drawn with probability proportional to the squared distance to the nearest seed so far.

    Distances as |x|^2 - 2 x.c + |c|^2 (one matrix-vector product per seed) and the draw by inverting the
    cumulative sum: 8x faster than differences and ``torch.multinomial`` (measured: 1024 seeds among 18 000
    100-dim points, 0.45 s on one core)."""
    n = x.shape[0]
    centroids = torch.empty(k, x.shape[1], dtype=x.dtype)
    x_sq = (x * x).sum(1)
    first = torch.randint(n, (1,), generator=generator)
    centroids[0] = x[first]
    closest = (x_sq - 2 * (x @ centroids[0]) + x_sq[first]).clamp_(min=0)
    for j in range(1, k):
        cum = torch.cumsum(closest, 0)
        if cum[-1] > 0:
            draw = torch.rand(1, generator=generator, dtype=cum.dtype) * cum[-1]
            index = torch.searchsorted(cum, draw).clamp_(max=n - 1)
        else:  # every point is a seed already
            index = torch.randint(n, (1,), generator=generator)
        centroids[j] = x[index]
        torch.minimum(closest, (x_sq - 2 * (x @ centroids[j]) + x_sq[index]).clamp_(min=0), out=closest)
    return centroids


def _nearest(x: torch.Tensor, centroids: torch.Tensor, chunk: int):
    c2 = (centroids ** 2).sum(1)
    assign, dist = [], []
    for i in range(0, x.shape[0], chunk):
        xb = x[i: i + chunk]
        d = (xb ** 2).sum(1, keepdim=True) - 2 * (xb @ centroids.T) + c2
        m = d.min(1)
        assign.append(m.indices)
        dist.append(m.values)
    return torch.cat(assign), torch.cat(dist)


def fit_residual_codebooks(x: torch.Tensor, num_codebooks: int, kmeans_iters: int,
                           generator: Optional[torch.Generator], what: str = "frames") -> List[torch.Tensor]:
    """Residual VQ codebooks [CODEBOOK_SIZE, D] of the rows of ``x`` [N, D], as RVQ is trained: each a k-means
    fit of what the codebooks before it left. Shared by the random EnCodec and mel_rvq."""
    if len(x) < MIN_FIT_FRAMES:
        # With few points per centroid, k-means leaves most residuals at exactly zero after a few
        # layers and the deepest codebooks collapse to a handful of codes (measured: 6000 frames gave
        # 5 distinct codes in codebook 8 on held-out audio; 12000 gave 760).
        raise ValueError(f"need at least {MIN_FIT_FRAMES} {what} ({MIN_FIT_FRAMES / FRAME_RATE:.0f} s of audio) "
                         f"to fit {CODEBOOK_SIZE}-entry codebooks, got {len(x)}")
    residual, books = x.clone(), []
    for _ in range(num_codebooks):
        centroids = kmeans(residual, CODEBOOK_SIZE, kmeans_iters, generator)
        books.append(centroids)
        residual = residual - centroids[_nearest(residual, centroids, 8192)[0]]
    return books


@torch.no_grad()
def fit_random_codec(waveforms: Iterable[np.ndarray], bandwidth: float = 6.0, seed: int = 0,
                     max_frames: int = 16000, kmeans_iters: int = 10, device: str = "cpu") -> Codec:
    """Random-init EnCodec 24 kHz whose residual codebooks are k-means fits of its own encoder's
    latents on ``waveforms`` (24 kHz mono), layer by layer on the residuals, as RVQ is trained."""
    torch.manual_seed(seed)
    model = new_model().to(device)
    latents, frames, seconds = [], 0, 0.0
    for w in waveforms:
        z = model.encoder(torch.as_tensor(w, dtype=torch.float32, device=device)[None, None])  # [1, D, T]
        latents.append(z[0].T)
        frames += z.shape[-1]
        seconds += len(w) / SAMPLE_RATE
        if frames >= max_frames:
            break
    x = torch.cat(latents)[:max_frames].cpu()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    n_q = _num_codebooks(model, bandwidth)
    books = fit_residual_codebooks(x, n_q, kmeans_iters, generator, what="latent frames")
    for layer, centroids in zip(model.quantizer.vq.layers[:n_q], books):
        book = layer._codebook
        centroids = centroids.to(device)
        book.embed.copy_(centroids)
        book.embed_avg.copy_(centroids)
        book.cluster_size.fill_(1.0)
        book.inited.fill_(True)
    info = CodecInfo(real_weights=False, source="random init, codebooks fitted by k-means", bandwidth=bandwidth,
                     num_codebooks=n_q, fitted_on_seconds=round(seconds, 2), seed=seed)
    return Codec(model, info, device)


def file_digest(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
