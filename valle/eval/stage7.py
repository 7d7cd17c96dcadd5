"""Stage 7: synthesize the held-out test speakers' sentences in both prompt modes and evaluate them.

Outputs under ``out_dir``, all audio 24 kHz wav:
  test_list.tsv          targets (test parts, test_min/max_duration), their cross and continuation prompts
  prompts/<id>.wav       cross prompt: <= 3 s of whole words of another utterance of the same speaker
  prompts_continuation/<id>.wav  continuation prompt: the target's own first words within 3 s
  ground_truth/<id>.wav  the target recording            (ceiling row)
  resynthesis/<id>.wav   the recording through the codec (ceiling row: what the tokens can carry)
  cross/<id>.wav         VALL-E, cross-utterance prompt
  continuation/<id>.wav  VALL-E continuation: the generated words only (after the prompt's), as scored
  per_utterance.tsv      reference and recognized phones and words, errors, SIM, EOS, repetition, duration
  metrics.json, metrics.txt (a table: one row per system)
PER: our stage-3 DNN-HMM as a phone recognizer (phone bigram from the train parts' alignments). WER: PocketSphinx
(``asr_model``) or an external ASR (``asr_command``). SIM: cosine similarity of each output's speaker embedding
to its prompt's, Resemblyzer (``sim_model``) or an external model (``sim_command``); "SIM other" scores the same
output against a different test speaker's prompt: the floor, where the ground truth's SIM is the ceiling.
"""
import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from valle.constants import ASR_SAMPLE_RATE, CODEC_SAMPLE_RATE as SR
from valle.eval.config import EvalConfig
from valle.eval.external import run_list_command
from valle.eval.test_list import TestItem, build_test_list
from valle.eval.tts_metrics import summarize_system, utterance_metrics, word_errors
from valle.utils.audio import write_wav
from valle.utils.io import write_text_atomic
from valle.utils.settings import iter_values


def load_16k(path: Path) -> np.ndarray:
    from lhotse import Recording

    from valle.utils.audio import load_mono

    return load_mono(Recording.from_file(path), ASR_SAMPLE_RATE)


def load_cuts(data_dir: Path, parts: List[str]):
    from lhotse import load_manifest_lazy

    cuts = []
    for part in parts:
        path = data_dir / "aligned" / f"cuts_{part}.jsonl.gz"
        if not path.is_file():
            raise FileNotFoundError(f"expected {path} to exist (stage 3 writes it)")
        cuts += list(load_manifest_lazy(path))
    return {c.id: c for c in cuts}


def reference_audio(items: List[TestItem], cuts: dict, out_dir: Path, codec, codebook1: bool = False) -> None:
    """ground_truth/, resynthesis/ and prompts/ wavs (and resynthesis_codebook1/: codebook 1 alone)."""
    from tqdm import tqdm

    from valle.utils.audio import load_mono

    for it in tqdm(items, desc="references", mininterval=5):
        cut = cuts[it.cut_id].truncate(offset=it.start, duration=it.duration, preserve_id=True)
        audio = load_mono(cut, SR)
        write_wav(out_dir / "ground_truth" / f"{it.id}.wav", audio, SR)
        codes = codec.encode_batch([audio])[0]
        write_wav(out_dir / "resynthesis" / f"{it.id}.wav", codec.decode(codes)[: len(audio)], SR)
        if codebook1:
            write_wav(out_dir / "resynthesis_codebook1" / f"{it.id}.wav", codec.decode(codes[:, :1])[: len(audio)], SR)
        for p, folder in ((it.prompt, "prompts"), (it.continuation, "prompts_continuation")):
            if p is not None:
                pcut = cuts[p.cut_id].truncate(offset=p.start, duration=p.end - p.start, preserve_id=True)
                write_wav(out_dir / folder / f"{it.id}.wav", load_mono(pcut, SR), SR)


def synthesize_mode(synth, items: List[TestItem], mode: str, out_dir: Path, batch_size: int,
                    codebook1: bool = False) -> Dict[str, dict]:
    """-> {id: {"hit_eos"} or {"error"}}; a request that fails alone is skipped with its reason."""
    from tqdm import tqdm

    from valle.infer.prompt import PromptError
    from valle.infer.synthesize import Request
    from valle.infer.text import TextError

    def request(it: TestItem) -> Request:
        if mode == "cross":
            return Request(it.text, out_dir / "prompts" / f"{it.id}.wav", it.prompt.text, "cross")
        return Request(it.continuation_text, out_dir / "prompts_continuation" / f"{it.id}.wav", it.continuation.text,
                       "continuation")

    out: Dict[str, dict] = {}
    if mode == "continuation":
        for it in items:
            if it.continuation is None:
                out[it.id] = {"error": "all its words lie within the prompt: nothing to continue"}
        items = [it for it in items if it.continuation is not None]
    order = sorted(items, key=lambda it: len(it.text))   # similar lengths share a batch: less padding
    t0, audio_s = time.time(), 0.0
    for i in tqdm(range(0, len(order), batch_size), desc=mode, mininterval=5):
        batch = order[i:i + batch_size]
        try:
            pairs = list(zip(batch, synth.synthesize([request(it) for it in batch])))
        except (TextError, PromptError, ValueError):
            pairs = []
            for it in batch:   # find the request that fails; the others go on
                try:
                    pairs.append((it, synth.synthesize([request(it)])[0]))
                except (TextError, PromptError, ValueError) as e:
                    out[it.id] = {"error": f"{type(e).__name__}: {e}"}
                    logging.warning("%s %s: skipped: %s", mode, it.id, e)
        for it, res in pairs:
            write_wav(out_dir / mode / f"{it.id}.wav", res.audio, SR)
            if codebook1:
                write_wav(out_dir / f"{mode}_codebook1" / f"{it.id}.wav", synth.codec.decode(res.codes[:, :1]), SR)
            out[it.id] = {"hit_eos": res.hit_eos}
            audio_s += len(res.audio) / SR
    secs = time.time() - t0
    logging.info("%s: %d wavs, %.1f s of audio in %.1f s (real-time factor %.2f)", mode,
                 sum("error" not in v for v in out.values()), audio_s, secs, secs / max(audio_s, 1e-9))
    return out


def evaluate(exp_dir: Path, data_dir: Path, out_dir: Path, test_parts: Sequence[str], bigram_parts: Sequence[str],
             cfg: EvalConfig = EvalConfig()) -> dict:
    """Stage 7: synthesize ``test_parts``' targets in ``cfg.modes``, score them and the ceilings, write the
    outputs under ``out_dir``. ``exp_dir``/``data_dir``: the recipe's (ar/, nar/, align/; lang/, aligned/,
    tokens/). ``bigram_parts``: the parts whose stage-3 alignments give the recognizer's phone bigram."""
    import torch

    from valle.eval.phone_recognition import PhoneRecognizer
    from valle.infer.synthesize import Synthesizer

    exp_dir, data_dir, out_dir = Path(exp_dir), Path(data_dir), Path(out_dir)
    test_parts, modes, dec = list(test_parts), list(cfg.modes), cfg.decode
    torch.manual_seed(dec.seed or 0)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    cuts = load_cuts(data_dir, test_parts)
    items, skipped = build_test_list(cuts.values(), cfg.test)
    if not items:
        raise ValueError(f"no test utterances of {cfg.test.min_duration}-{cfg.test.max_duration} s with a prompt "
                         f"in {test_parts} (left out: {len(skipped)})")
    speakers = sorted({it.speaker for it in items})
    logging.info("test list: %d utterances, %d speakers, %.1f min; %d left out (no prompt)", len(items),
                 len(speakers), sum(it.duration for it in items) / 60, len(skipped))
    write_test_list(out_dir / "test_list.tsv", items)

    synth = Synthesizer(exp_dir / "ar" / "model.pt", exp_dir / "nar" / "model.pt", data_dir / "tokens" / "codec.pt",
                        data_dir / "lang", device, dec)
    # Codebook 1 alone (the AR model's part) where the codec decodes a prefix of its codebooks (mel_rvq): which
    # model holds the output back, the AR or the NAR.
    codebook1 = cfg.codebook1_rows and synth.codec.info.kind == "mel_rvq"
    reference_audio(items, cuts, out_dir, synth.codec, codebook1)
    generated = {m: synthesize_mode(synth, items, m, out_dir, cfg.batch_size, codebook1 and m == "cross")
                 for m in modes}
    if codebook1 and "cross" in modes:
        generated["cross_codebook1"] = generated["cross"]

    recognizer = PhoneRecognizer(data_dir / "lang", exp_dir / "align",
                                 [data_dir / "aligned" / f"cuts_{p}.jsonl.gz" for p in bigram_parts])
    rows, failed = {}, {}
    systems = ["ground_truth", "resynthesis"] + list(modes)
    if codebook1 and "cross" in modes:
        systems.insert(2, "resynthesis_codebook1")
        systems.insert(systems.index("cross") + 1, "cross_codebook1")
    others = other_speaker_prompts(items, out_dir)
    for system in systems:
        rows[system], failed[system] = score_system(recognizer, synth.frontend, items, system,
                                                    generated.get(system, {}), out_dir, others)
    hooks = {"wer": add_word_errors(rows, cfg), "similarity": add_similarity(rows, cfg)}
    metrics = {
        "test_parts": test_parts, "utterances": len(items), "speakers": speakers,
        "left_out_no_prompt": skipped,
        "decode": {s.name: v for s, v in iter_values(dec)},
        "phone_recognizer": f"stage-3 DNN-HMM at {recognizer.frame_shift_ms} ms, phone bigram over "
                            f"{' '.join(bigram_parts)}",
        "systems": {s: {**summarize_system(rs), "synthesis_failures": failed.get(s, {})} for s, rs in rows.items()},
        "hooks": hooks,
    }
    write_results(out_dir, metrics, rows)
    return metrics


def write_test_list(path: Path, items: List[TestItem]) -> None:
    def crop(p):
        return f"{p.utterance}\t{p.start:.3f}\t{p.end:.3f}\t{p.text}" if p else "\t\t\t"

    write_text_atomic(path, "id\tspeaker\tseconds\ttext\tprompt_id\tprompt_start\tprompt_end\tprompt_text\t"
                      "continuation_prompt_id\tcontinuation_prompt_start\tcontinuation_prompt_end\t"
                      "continuation_prompt_text\tcontinuation_text\n" + "".join(
                          f"{it.id}\t{it.speaker}\t{it.duration:.3f}\t{it.text}\t{crop(it.prompt)}\t"
                          f"{crop(it.continuation)}\t{it.continuation_text}\n" for it in items))


def other_speaker_prompts(items: List[TestItem], out_dir: Path) -> Dict[str, Path]:
    """{id: the cross prompt of a different test speaker} (the SIM floor): the first target of the next speaker in
    sorted order, cyclic. Empty when there is one test speaker."""
    first: Dict[str, TestItem] = {}
    for it in items:
        first.setdefault(it.speaker, it)
    speakers = sorted(first)
    if len(speakers) < 2:
        return {}
    nxt = {s: speakers[(k + 1) % len(speakers)] for k, s in enumerate(speakers)}
    return {it.id: out_dir / "prompts" / f"{first[nxt[it.speaker]].id}.wav" for it in items}


def score_system(recognizer, frontend, items: List[TestItem], system: str, generated: Dict[str, dict],
                 out_dir: Path, others: Dict[str, Path]) -> Tuple[List[dict], Dict[str, str]]:
    """Per-utterance metrics of one system's wavs (``generated``: the synthesizer's outcome per id, empty for
    the ceiling rows; ``others``: other_speaker_prompts) -> (rows, {id: why it was not synthesized}). A continuation is scored on what it says
    after its prompt: the words after the prompt's, against the ground truth's seconds after them."""
    from valle.eval.phone_recognition import tts_phones

    wav_dir = out_dir / system
    ok = [it for it in items if "error" not in generated.get(it.id, {})]
    failed = {k: v["error"] for k, v in generated.items() if "error" in v}
    t0 = time.time()
    audio = {it.id: load_16k(wav_dir / f"{it.id}.wav") for it in ok}
    hyps, rec_failures = recognizer.recognize([(it.id, it.speaker, audio[it.id]) for it in ok])
    logging.info("%s: phones recognized for %d wavs in %.1f s (%d failed)", system, len(hyps), time.time() - t0,
                 len(rec_failures))
    rows = []
    for it in ok:
        if system == "continuation":
            text, ref_seconds, prompt = it.continuation_text, it.continuation_seconds, "prompts_continuation"
        else:
            text, ref_seconds, prompt = it.text, it.duration, "prompts"
        seconds = len(audio[it.id]) / ASR_SAMPLE_RATE
        row = utterance_metrics(tts_phones(frontend.phones(text)), hyps.get(it.id), seconds, ref_seconds,
                                generated.get(it.id, {}).get("hit_eos"))
        rows.append({"id": it.id, "wav": str(wav_dir / f"{it.id}.wav"), "text": text,
                     "prompt": str(out_dir / prompt / f"{it.id}.wav"),
                     "other_prompt": str(others[it.id]) if it.id in others else None, **row})
    return rows, failed


def add_word_errors(rows: Dict[str, List[dict]], cfg: EvalConfig) -> str:
    """Word errors of every row (against its normalized text) from PocketSphinx or the external ASR command;
    -> what was done."""
    from valle.text.normalize import to_transcript

    if cfg.asr_command:
        def transcribe(rs):
            hyp = run_list_command(cfg.asr_command, [f"{r['id']}\t{r['wav']}" for r in rs], "ASR")
            missing = [r["id"] for r in rs if r["id"] not in hyp]
            if missing:
                raise RuntimeError(f"ASR command gave no transcript for {missing[0]} ({len(missing)} in all)")
            return hyp
        how = f"computed with asr_command {cfg.asr_command!r}"
    elif cfg.asr_model == "pocketsphinx":
        from valle.eval.asr import PocketSphinx

        asr = PocketSphinx()

        def transcribe(rs):
            return {r["id"]: asr.transcribe(load_16k(Path(r["wav"]))) for r in rs}
        how = ("PocketSphinx 5 en-us (acoustic model, dictionary and trigram LM from its wheel; the paper used "
               "HuBERT-Large fine-tuned on LibriSpeech 960 h: set asr_command for such a model)")
    else:
        return "skipped: asr_model=none and no asr_command"
    t0 = time.time()
    for rs in rows.values():
        hyp = transcribe(rs)
        for r in rs:
            ref_words, hyp_words = r["text"].split(), to_transcript(hyp[r["id"]]).split()
            r["ref_words"], r["word_errors"] = len(ref_words), word_errors(ref_words, hyp_words)
            r["hyp_words"] = " ".join(hyp_words)
    logging.info("WER: %d wavs transcribed in %.1f s", sum(len(rs) for rs in rows.values()), time.time() - t0)
    return how


def add_similarity(rows: Dict[str, List[dict]], cfg: EvalConfig) -> str:
    """Speaker similarity of every row to its prompt and to another test speaker's prompt (the floor), from
    Resemblyzer or the external speaker-model command; -> what was done."""
    pairs = [(r, key, r[ref]) for rs in rows.values() for r in rs
             for key, ref in (("similarity", "prompt"), ("similarity_other", "other_prompt")) if r[ref]]
    if cfg.sim_command:
        lines = [f"{n}\t{r['wav']}\t{ref}" for n, (r, _, ref) in enumerate(pairs)]
        sim = run_list_command(cfg.sim_command, lines, "speaker similarity")
        missing = [str(n) for n in range(len(pairs)) if str(n) not in sim]
        if missing:
            raise RuntimeError(f"speaker similarity command gave no score for line {missing[0]} "
                               f"({len(missing)} in all)")
        scores = [float(sim[str(n)]) for n in range(len(pairs))]
        how = f"computed with sim_command {cfg.sim_command!r}"
    elif cfg.sim_model == "resemblyzer":
        from valle.eval.speaker import SpeakerEncoder, cosine

        encoder = SpeakerEncoder.from_file()
        cache: Dict[str, np.ndarray] = {}

        def embed(path: str) -> np.ndarray:
            if path not in cache:
                cache[path] = encoder.embed_utterance(load_16k(Path(path)))
            return cache[path]
        t0 = time.time()
        scores = [cosine(embed(r["wav"]), embed(ref)) for r, _, ref in pairs]
        logging.info("SIM: %d wavs embedded in %.1f s", len(cache), time.time() - t0)
        how = ("Resemblyzer's pretrained GE2E speaker encoder (from its wheel; the paper used WavLM-TDNN: set "
               "sim_command for such a model)")
    else:
        return "skipped: sim_model=none and no sim_command"
    for (r, key, _), score in zip(pairs, scores):
        r[key] = round(score, 4)
    return how


def write_results(out_dir: Path, metrics: dict, rows: Dict[str, List[dict]]) -> None:
    """per_utterance.tsv, metrics.txt (the table) and metrics.json."""
    header = ["id", "system", "ref_phones", "phone_errors", "ref_words", "word_errors", "similarity",
              "similarity_other", "repetition", "hit_eos", "seconds", "duration_ratio", "text", "hyp", "hyp_words"]
    lines = ["\t".join(header)] + ["\t".join(str(r.get(h, system) if h != "system" else system) for h in header)
                                   for system, rs in rows.items() for r in rs]
    write_text_atomic(out_dir / "per_utterance.tsv", "\n".join(lines) + "\n")
    write_text_atomic(out_dir / "metrics.txt", format_table(metrics))
    write_text_atomic(out_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")


def format_table(metrics: dict) -> str:
    def cell(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)

    lines = [f"{'system':<21} {'utts':>5} {'PER %':>7} {'WER %':>7} {'SIM':>6} {'SIM other':>9} {'EOS fail %':>10} "
             f"{'repeat %':>8} {'dur ratio':>9}"]
    for name, m in metrics["systems"].items():
        lines.append(f"{name:<21} {m['utterances']:>5} {cell(m.get('per')):>7} {cell(m.get('wer')):>7} "
                     f"{cell(m.get('similarity'), '{:.3f}'):>6} {cell(m.get('similarity_other'), '{:.3f}'):>9} "
                     f"{cell(m.get('eos_failure_rate')):>10} {cell(m.get('repetition_rate')):>8} "
                     f"{cell(m.get('duration_ratio_median'), '{:.2f}'):>9}")
    lines.append("")
    lines.append("PER: our stage-3 DNN-HMM phone recognizer (" + metrics["phone_recognizer"] + ").")
    lines.append("ground_truth / resynthesis are ceilings: the recordings, and the recordings through the codec.")
    lines.append("SIM: speaker similarity to the prompt (ground_truth's is the same-speaker ceiling); SIM other: to a "
                 "different test speaker's prompt (the floor). continuation: the words after its prompt's, scored alone.")
    if "cross_codebook1" in metrics["systems"]:
        lines.append("*_codebook1: codebook 1 alone decoded (the AR model's codes; the NAR's 2-8 left out).")
    lines.append("EOS fail: the AR model did not stop by itself. repeat: recognized phones loop where the text does "
                 "not. dur ratio: median output / ground-truth seconds.")
    for k, v in metrics["hooks"].items():
        lines.append(f"{k}: {v}")
    return "\n".join(lines) + "\n"
