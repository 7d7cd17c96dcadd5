"""Stage 4: the codec every later stage uses (saved once), then the codes of every cut, validated."""
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from valle.codec.config import CodecConfig, TokenizeConfig
from valle.codec.encodec import fit_random_codec, load_codec
from valle.codec.mel_rvq import fit_mel_rvq
from valle.codec.tokenize import combine_parts, load_cut_audio, tokenize_job, tokenize_parts, validate_part
from valle.utils.io import write_text_atomic

RANDOM_CODEC_WARNING = (
    "\n{banner}\n# NO REAL ENCODEC WEIGHTS: using a RANDOMLY INITIALIZED EnCodec whose codebooks were fitted\n"
    "# to {seconds:.0f} s of this corpus. Codes are consistent and the recipe runs end to end, but\n# audio "
    "decoded from them is NOT speech. Point --codec-checkpoint at encodec_24khz-d7cc33bc.th\n# (or put it in the "
    "torch hub cache) and redo stage 4 for real output.\n{banner}")


def prepare_codec(out: Path, checkpoint: Optional[str], fit_cuts: Sequence[Path], cfg: CodecConfig = CodecConfig()) -> None:
    """``cfg.type`` encodec: real EnCodec weights (``checkpoint``, else the torch hub cache, else a download), or
    with none reachable a random-init EnCodec whose codebooks are fitted to the audio of ``fit_cuts``;
    mel_rvq: the log-mel residual VQ fitted to the audio of ``fit_cuts``. Saved to ``out`` with ``out.json``
    saying what it is and where it came from. Reused when ``out`` was made from the same request."""
    from lhotse import load_manifest_lazy

    out = Path(out)
    info_path = out.with_suffix(".json")
    requested = {"codec": cfg.type, "bandwidth": cfg.bandwidth}
    if cfg.type == "mel_rvq":
        requested.update(fit_frames=cfg.fit_frames, seed=cfg.seed, griffin_lim_iters=cfg.griffin_lim_iters)
    else:
        requested.update(checkpoint=checkpoint or "")
    if out.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("requested") == requested:
            logging.info(f"reusing {out} ({info['source']})")
            return

    unusable = []  # (cut, reason) of the cuts whose audio could not be used, to say why when none could

    def waveforms():
        for path in fit_cuts:
            for cut in load_manifest_lazy(path):
                audio, reason = load_cut_audio(cut)
                if audio is None:
                    unusable.append((cut.id, reason))
                else:
                    yield audio

    def fit(fitter, no_cuts: str, **kwargs):
        """``fitter`` on the audio of ``fit_cuts``; its errors say why no audio was usable, when none was."""
        if not fit_cuts:
            raise FileNotFoundError(no_cuts)
        try:
            return fitter(waveforms(), seed=cfg.seed, max_frames=cfg.fit_frames, **kwargs)
        except ValueError as e:
            why = f"; {len(unusable)} cuts had no usable audio, e.g. {unusable[0][0]}: {unusable[0][1]}" if unusable else ""
            raise ValueError(f"cannot fit the {cfg.type} codec on {[str(p) for p in fit_cuts]}: {e}{why}") from e

    if cfg.type == "mel_rvq":
        codec = fit(fit_mel_rvq, "codec=mel_rvq needs cuts to fit its codebooks on (--fit-cuts)",
                    num_codebooks=_mel_rvq_codebooks(cfg.bandwidth), griffin_lim_iters=cfg.griffin_lim_iters)
    else:
        codec = load_codec(checkpoint or None, cfg.bandwidth, allow_download=cfg.allow_download)
    if codec is None:
        codec = fit(fit_random_codec, "no EnCodec weights found and no cuts to fit a random codec on",
                    bandwidth=cfg.bandwidth)
        logging.warning(RANDOM_CODEC_WARNING.format(banner="#" * 100, seconds=codec.info.fitted_on_seconds))
    codec.save(out)
    write_text_atomic(info_path, json.dumps({**asdict(codec.info), "requested": requested}, indent=1))
    logging.info(f"codec saved to {out}: {codec.info.source}, {codec.num_codebooks} codebooks")


def _mel_rvq_codebooks(bandwidth: float) -> int:
    """EnCodec's codebooks for a bandwidth (10 bits at 75 Hz each: 6 kbps = 8), so both codecs agree on it."""
    n = bandwidth / 0.75
    if n != int(n) or n < 1:
        raise ValueError(f"codec_bandwidth {bandwidth}: mel_rvq needs a multiple of 0.75 kbps (6: 8 codebooks)")
    return int(n)


def _manifests(manifest_dir: Path, parts: Sequence[str]) -> List[Tuple[str, Path]]:
    manifests = [(p, Path(manifest_dir) / f"cuts_{p}.jsonl.gz") for p in parts]
    missing = [str(path) for _, path in manifests if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"expected cuts {missing} (stage 1 makes them)")
    return manifests


def extract_codes_job(manifest_dir: Path, parts: Sequence[str], codec_path: Path, out_dir: Path, job: int,
                      num_jobs: int, cfg: TokenizeConfig = TokenizeConfig()) -> int:
    """Job ``job`` of ``num_jobs``: its shards of every part (resumable). Returns the shards it encoded."""
    return tokenize_job(_manifests(manifest_dir, parts), codec_path, out_dir, job, num_jobs, cfg)


def extract_codes(manifest_dir: Path, parts: Sequence[str], codec_path: Path, out_dir: Path, num_jobs: int = 1,
                  cfg: TokenizeConfig = TokenizeConfig(), combine_only: bool = False) -> List[dict]:
    """Codes of every cut of ``parts`` (resumable shards; ``num_jobs`` worker processes here, or, with
    ``combine_only``, the shards the jobs of ``extract_codes_job`` wrote), joined per part and validated;
    writes ``out_dir/summary.json``. Returns the per-part summaries; ``bad_arrays`` lists what failed validation."""
    manifests = _manifests(manifest_dir, parts)
    if combine_only:
        summaries = combine_parts(manifests, out_dir, cfg)
    else:
        summaries = tokenize_parts(manifests, codec_path, out_dir, num_jobs, cfg)
    num_codebooks = load_codec(codec_path).num_codebooks
    for summary in summaries:
        part = summary["part"]
        checked, bad = validate_part(Path(out_dir) / f"cuts_{part}.jsonl.gz", num_codebooks)
        summary["validated"], summary["bad_arrays"] = checked, bad
        logging.info(f"{part}: {summary['cuts']} cuts, {summary['audio_seconds'] / 3600:.3f} h, "
                     f"{len(summary['skipped'])} skipped; validation: {checked} arrays, {len(bad)} bad")
        for cut_id, reason in summary["skipped"]:
            logging.warning(f"{part}: skipped {cut_id}: {reason}")
        for cut_id, reason in bad:
            logging.error(f"{part}: bad codes for {cut_id}: {reason}")
    audio = sum(s["audio_seconds"] for s in summaries)
    encode = sum(s["encode_seconds"] for s in summaries)
    if encode > 0:
        logging.info(f"encoded: {audio / 3600:.3f} h, {audio / encode:.1f} s of audio per encoder-second "
                     f"({cfg.threads} threads per job; counts shards done earlier too)")
    write_text_atomic(Path(out_dir) / "summary.json", json.dumps(summaries, indent=1))
    return summaries
