"""Stage 2: the lang directory (Kaldi/icefall file formats).

Outputs under ``lang_dir``:
  text/<part>.txt            "<supervision-id> WORD WORD ..." normalized transcripts (Kaldi ``text``)
  lexicon.txt                "WORD p1 p2 ..." (variants on separate lines); !SIL -> SIL, <UNK> -> SPN
  phones.txt, words.txt      symbol tables; <eps>=0, disambiguation symbol #0; words add <s>, </s>
  silence_phones.txt, nonsilence_phones.txt, optional_silence.txt, oov.txt   (Kaldi dict-dir files)
  oov_report.tsv             words not in CMUdict: count, where the pronunciation came from, phones
  bpe.model, bpe.vocab       sentencepiece BPE over phone strings (one private-use character per phone)
  lang_info.json             phone set, G2P languages, counts, the phone -> character map of bpe.model
"""
import collections
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

from valle.text.config import LangConfig
from valle.text.lang_dir import LangDir
from valle.text.lexicon import SIL, SIL_WORD, SPN, UNK_WORD, _cmudict, build_lexicon, read_extra_lexicon, word_key
from valle.text.normalize import to_transcript
from valle.utils.io import atomic_path, write_text_atomic

PUA_START = 0xE000  # phones become single Unicode private-use characters for sentencepiece


def normalize_transcripts(texts: Iterable[Tuple[str, str]], locale: str = "en-us") -> Tuple[Dict[str, str], List[str]]:
    """(id, raw text) -> ({id: normalized text}, [ids whose text is empty after normalization])."""
    out, empty = {}, []
    for sid, raw in texts:
        norm = to_transcript(raw or "", locale)
        if norm:
            out[sid] = norm
        else:
            empty.append(sid)
    return out, empty


def phone_to_char(phones: Sequence[str]) -> Dict[str, str]:
    return {p: chr(PUA_START + i) for i, p in enumerate(phones)}


def train_phone_bpe(phone_seqs: List[List[str]], phone_chars: Dict[str, str], model_prefix: Path,
                    vocab_size: int) -> int:
    """Train a sentencepiece BPE model over phone strings; returns the vocabulary size reached."""
    import sentencepiece as spm

    lines = ["".join(phone_chars[p] for p in seq) for seq in phone_seqs if seq]
    if not lines:
        raise ValueError("no phone strings to train the BPE model on")
    # Single phones must stay representable: every phone character is a required character.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(model_prefix), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, hard_vocab_limit=False, add_dummy_prefix=False,
        split_by_whitespace=False, required_chars="".join(phone_chars.values()), num_threads=1,
        bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=f"{model_prefix}.model")
    return sp.get_piece_size()


def phones_to_bpe(sp, phones: Sequence[str], phone_chars: Dict[str, str]) -> List[str]:
    """Encode a phone sequence with the phone BPE model; pieces are returned as phone strings 'p1_p2'."""
    char_phone = {c: p for p, c in phone_chars.items()}
    pieces = sp.encode("".join(phone_chars[p] for p in phones), out_type=str)
    return ["_".join(char_phone[c] for c in piece if c in char_phone) for piece in pieces]


def read_transcripts(manifest_dir: Path, part: str) -> dict:
    from lhotse import SupervisionSet

    files = sorted(manifest_dir.glob(f"*_supervisions_{part}.jsonl.gz"))
    if not files:
        raise FileNotFoundError(f"expected {manifest_dir}/<corpus>_supervisions_{part}.jsonl.gz to exist (stage 1 makes it)")
    texts = {}
    for f in files:
        for sup in SupervisionSet.from_file(f):
            texts[sup.id] = sup.text
    return texts


def write_texts(transcripts: Dict[str, Dict[str, str]], lang_dir: Path, locale: str
                ) -> Tuple[Dict[str, Dict[str, str]], collections.Counter, Dict[str, List[str]]]:
    """``text/<part>.txt`` of each part's normalized transcripts. Returns ({part: {id: normalized}}, word counts,
    {part: ids whose text is empty after normalization}, each logged)."""
    (lang_dir / "text").mkdir(parents=True, exist_ok=True)
    normalized, word_counts, empty = {}, collections.Counter(), {}
    for part, texts in transcripts.items():
        norm, empty_ids = normalize_transcripts(texts.items(), locale)
        normalized[part], empty[part] = norm, empty_ids
        for text in norm.values():
            word_counts.update(text.split())
        write_text_atomic(lang_dir / "text" / f"{part}.txt", "".join(f"{k} {v}\n" for k, v in sorted(norm.items())))
        if empty_ids:
            logging.warning("%s: %d transcripts are empty after normalization and will not be aligned: %s",
                            part, len(empty_ids), " ".join(empty_ids[:5]) + (" ..." if len(empty_ids) > 5 else ""))
    return normalized, word_counts, empty


def write_lexicon(path: Path, prons: Dict[str, Sequence[Tuple[str, ...]]]) -> None:
    """lexicon.txt: 'WORD p1 p2 ...', words sorted, one line per pronunciation."""
    write_text_atomic(path, "".join(f"{w} {' '.join(pron)}\n" for w in sorted(prons) for pron in prons[w]))


def prepare_lang(transcripts: Dict[str, Dict[str, str]], lang_dir: Path, cfg: LangConfig = LangConfig(),
                 bpe_parts: Sequence[str] = ()) -> dict:
    """Build the lang directory from raw transcripts ``{part: {supervision_id: text}}``.

    ``bpe_parts``: parts whose phone strings train the BPE model (default: all).
    Returns the summary also written to lang_info.json.
    """
    lang_dir = Path(lang_dir)
    normalized, word_counts, empty = write_texts(transcripts, lang_dir, cfg.text_locale)
    if not word_counts:
        raise ValueError("no words in any transcript: nothing to build a lexicon from")

    extra = {}
    if cfg.extra_lexicon:
        if not Path(cfg.extra_lexicon).is_file():
            raise FileNotFoundError(f"extra_lexicon {cfg.extra_lexicon}: no such file (egs/librispeech: stage 0 "
                                    f"fetches it)")
        extra = read_extra_lexicon(cfg.extra_lexicon)
        logging.info("extra lexicon %s: %d words", cfg.extra_lexicon, len(extra))
    # The extra lexicon's words join the vocabulary: stage 3 decodes unlabeled audio into words.txt's words.
    lex = build_lexicon(set(word_counts) | set(extra), cfg.phone_set, cfg.g2p_languages, extra=extra)
    phones = lex.phones
    write_lexicon(lang_dir / "lexicon.txt", lex.prons)
    phone_table = ["<eps>", SIL, SPN] + phones + ["#0"]
    write_text_atomic(lang_dir / "phones.txt", "".join(f"{p} {i}\n" for i, p in enumerate(phone_table)))
    word_table = ["<eps>", SIL_WORD, UNK_WORD] + sorted(set(lex.prons) - {SIL_WORD, UNK_WORD}) + ["#0", "<s>", "</s>"]
    write_text_atomic(lang_dir / "words.txt", "".join(f"{w} {i}\n" for i, w in enumerate(word_table)))
    write_text_atomic(lang_dir / "silence_phones.txt", f"{SIL}\n{SPN}\n")
    write_text_atomic(lang_dir / "optional_silence.txt", f"{SIL}\n")
    write_text_atomic(lang_dir / "nonsilence_phones.txt", "".join(f"{p}\n" for p in phones))
    write_text_atomic(lang_dir / "oov.txt", f"{UNK_WORD}\n")

    cmu = _cmudict()
    oov_rows = sorted(((w, c) for w, c in word_counts.items() if word_key(w) not in cmu), key=lambda x: (-x[1], x[0]))
    write_text_atomic(lang_dir / "oov_report.tsv", "word\tcount\tsource\tphones\n" + "".join(
        f"{w}\t{c}\t{lex.source.get(w, '')}\t{' | '.join(' '.join(p) for p in lex.prons[w])}\n" for w, c in oov_rows))

    # BPE over phone strings (first pronunciation of each word, words joined without silence).
    chars = phone_to_char(phones)
    seqs = []
    for part in (bpe_parts or normalized):
        for text in normalized.get(part, {}).values():
            seqs.append([p for w in text.split() for p in lex.prons[w][0] if p in chars])
    with tempfile.TemporaryDirectory(dir=lang_dir, prefix=".bpe.tmp") as tmp:
        reached = train_phone_bpe(seqs, chars, Path(tmp) / "bpe", cfg.bpe_vocab_size)
        os.replace(Path(tmp) / "bpe.vocab", lang_dir / "bpe.vocab")
        os.replace(Path(tmp) / "bpe.model", lang_dir / "bpe.model")

    num_tokens = sum(word_counts.values())
    info = {
        "phone_set": cfg.phone_set, "g2p_languages": list(cfg.g2p_languages), "text_locale": cfg.text_locale,
        "num_phones": len(phones),
        "num_words": len(word_counts), "num_tokens": num_tokens, "extra_lexicon": cfg.extra_lexicon,
        "num_extra_lexicon_words": len(extra), "num_vocabulary": len(lex.prons) - 2,
        "num_lexicon_entries": sum(len(v) for v in lex.prons.values()),
        "oov_vs_cmudict_types": len(oov_rows), "oov_vs_cmudict_tokens": sum(c for _, c in oov_rows),
        "unpronounceable_words": sorted(w for w, s in lex.source.items() if s == "unk"),
        "empty_transcripts": {p: len(v) for p, v in empty.items()},
        "bpe_vocab_size": reached, "bpe_phone_chars": chars,
        "sources": dict(collections.Counter(lex.source.get(w, "") for w in word_counts)),
    }
    write_text_atomic(lang_dir / "lang_info.json", json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    return info


def extend_lang(base_dir: Path, transcripts: Dict[str, Dict[str, str]], lang_dir: Path) -> dict:
    """A lang directory for aligning new transcripts with models trained on ``base_dir``'s lang: the same phone
    table (the models' outputs are its phones), the base lexicon plus pronunciations of the new words.

    Transcripts ``{part: {id: raw text}}`` are normalized with the base's text locale. A new word gets CMUdict's
    or the G2P's pronunciations as stage 2 would (the base's phone set and G2P languages), keeping only those
    whose phones are all in the phone table; a word left with none is spoken noise (SPN, as Kaldi's <UNK>), so its
    utterance still aligns. Writes text/<part>.txt, phones.txt (copied), lexicon.txt, words.txt (the base's ids
    kept, new words after them), lang_info.json (the base's, with the new words' sources). Returns
    {"new_words": {word: source}} with source cmudict | g2p:<lang> | unk | outside-phone-set."""
    base = LangDir(base_dir)
    lang_dir = Path(lang_dir)
    info = dict(base.info)
    _, words, _ = write_texts(transcripts, lang_dir, info.get("text_locale", "en-us"))
    lexicon = {w: list(p) for w, p in base.lexicon.items()}
    new = sorted(w for w in words if w not in lexicon)
    sources = {}
    if new:
        lex = build_lexicon(new, info["phone_set"], info["g2p_languages"])
        phones = set(base.phones)
        for w in new:
            prons = [p for p in lex.prons[w] if all(ph in phones for ph in p)]
            sources[w] = lex.source[w] if prons else "outside-phone-set"
            lexicon[w] = prons or [(SPN,)]
        outside = [w for w, s in sources.items() if s in ("unk", "outside-phone-set")]
        if outside:
            logging.warning("%d new words have no pronunciation in the model's phones and align as spoken noise "
                            "(%s): %s", len(outside), SPN, " ".join(outside[:10]))
    with atomic_path(lang_dir / "phones.txt") as tmp:
        shutil.copyfile(base.path / "phones.txt", tmp)
    write_lexicon(lang_dir / "lexicon.txt", lexicon)
    ids = dict(base.words)
    ids.update((w, i) for i, w in enumerate(new, max(ids.values()) + 1))
    write_text_atomic(lang_dir / "words.txt", "".join(f"{w} {i}\n" for w, i in sorted(ids.items(), key=lambda x: x[1])))
    info["extended_from"] = str(base.path)
    info["new_words"] = dict(collections.Counter(sources.values()))
    write_text_atomic(lang_dir / "lang_info.json", json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    return {"new_words": sources}
