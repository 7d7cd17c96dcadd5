"""Stage 2: lexicon, G2P, normalization, Kaldi lang files, BPE over phones."""
import json

import pytest

from valle.text.config import LangConfig
from valle.text.lang import PUA_START, phones_to_bpe, prepare_lang
from valle.text.lexicon import (ARPABET, G2PError, build_lexicon, ipa_to_arpabet, read_extra_lexicon, read_lexicon,
                                read_symbol_table)


def test_cmudict_words_and_oov_through_g2p():
    lex = build_lexicon(["HELLO", "ZORBLAXIAN"], "arpabet")
    assert lex.source["HELLO"] == "cmudict" and ("HH", "AH", "L", "OW") in lex.prons["HELLO"]
    assert lex.source["ZORBLAXIAN"] == "g2p:en-us"
    assert all(p in ARPABET for pron in lex.prons["ZORBLAXIAN"] for p in pron)
    assert lex.prons["ZORBLAXIAN"][0][0] == "Z"


def test_apostrophes_keep_their_pronunciation():
    lex = build_lexicon(["DON'T", "CAPTAIN'S", "MOSS'S"], "arpabet")
    assert lex.prons["DON'T"][0][-1] == "T"
    assert lex.prons["CAPTAIN'S"][0][-1] == "Z"
    assert lex.prons["MOSS'S"][0][-2:] == ("IH", "Z") or lex.prons["MOSS'S"][0][-2:] == ("AH", "Z")


def test_ipa_set_gives_one_variant_per_voice():
    lex = build_lexicon(["TOMATO"], "ipa", ["en-us", "en-gb"])
    assert len(lex.prons["TOMATO"]) == 2  # American and British differ
    assert lex.source["TOMATO"] == "g2p:en-us"


def test_ipa_to_arpabet_splits_compounds_and_rejects_unknown():
    assert ipa_to_arpabet("ɑːɹ") == ["AA", "R"]
    assert ipa_to_arpabet("aɪə") == ["AY", "ER"]
    assert ipa_to_arpabet("tʃ") == ["CH"]
    with pytest.raises(G2PError):
        ipa_to_arpabet("ǃ")


def test_unknown_phone_set_and_no_language_are_errors():
    with pytest.raises(ValueError):
        build_lexicon(["A"], "xsampa")
    with pytest.raises(ValueError):
        build_lexicon(["A"], "arpabet", [])


def test_prepare_lang_writes_kaldi_files(tmp_path):
    texts = {"train": {"u1": "Dr. Smith paid $3.50 in 1984.", "u2": "Don't stop!", "u3": "...", "u4": ""},
             "dev": {"d1": "The 2nd ZORBLAXIAN arrived."}}
    info = prepare_lang(texts, tmp_path, LangConfig("arpabet", ("en-us",), 60), bpe_parts=["train"])
    text = dict(line.split(" ", 1) for line in (tmp_path / "text" / "train.txt").read_text().splitlines())
    assert text["u1"] == "DOCTOR SMITH PAID THREE DOLLARS AND FIFTY CENTS IN NINETEEN EIGHTY FOUR"
    assert text["u2"] == "DON'T STOP"
    assert "u3" not in text and "u4" not in text
    assert info["empty_transcripts"] == {"train": 2, "dev": 0}
    phones = read_symbol_table(tmp_path / "phones.txt")
    words = read_symbol_table(tmp_path / "words.txt")
    assert phones["<eps>"] == 0 and words["<eps>"] == 0 and "#0" in phones and "#0" in words
    assert sorted(phones.values()) == list(range(len(phones)))  # contiguous ids
    assert {"SIL", "SPN"} <= set(phones) and "<UNK>" in words and "</s>" in words
    lex = read_lexicon(tmp_path / "lexicon.txt")
    assert lex["!SIL"] == [("SIL",)] and lex["<UNK>"] == [("SPN",)]
    assert set(text["u1"].split()) <= set(lex) and "SECOND" in lex
    assert all(p in phones for prons in lex.values() for pron in prons for p in pron)
    oov = (tmp_path / "oov_report.tsv").read_text()
    assert "ZORBLAXIAN\t1\tg2p:en-us" in oov
    assert (tmp_path / "oov.txt").read_text() == "<UNK>\n"
    assert (tmp_path / "silence_phones.txt").read_text().split() == ["SIL", "SPN"]
    saved = json.loads((tmp_path / "lang_info.json").read_text())
    assert saved["phone_set"] == "arpabet" and saved["num_words"] == info["num_words"]


def test_bpe_over_phones_round_trips(tmp_path):
    import sentencepiece as spm

    texts = {"train": {f"u{i}": "the cat sat on the mat and the dog sat on the log" for i in range(20)}}
    info = prepare_lang(texts, tmp_path, LangConfig("arpabet", ("en-us",), 80))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    chars = info["bpe_phone_chars"]
    assert all(ord(c) >= PUA_START for c in chars.values())
    phones = ["DH", "AH", "K", "AE", "T", "S", "AE", "T"]
    pieces = phones_to_bpe(sp, phones, chars)
    assert "_".join(pieces).split("_") == phones  # pieces cover the phones exactly, in order
    assert len(pieces) < len(phones)               # and merge frequent pairs


def test_words_in_other_scripts_are_spoken_noise_not_g2p():
    from valle.text.normalize import is_ascii_word

    lex = build_lexicon(["CAFE", "ΛΟΓΟΣ", "МОСКВА"])
    assert lex.source["CAFE"] == "cmudict"
    for word in ("ΛΟΓΟΣ", "МОСКВА"):
        assert not is_ascii_word(word)
        assert lex.prons[word] == [("SPN",)] and lex.source[word] == "unk"


def test_an_extra_lexicon_pronounces_what_cmudict_lacks_and_its_words_join_the_vocabulary(tmp_path):
    """As Kaldi's LibriSpeech recipe merges librispeech-lexicon.txt: stress digits removed, CMUdict first (its
    entry for a word it has wins), the extra lexicon before the G2P, and every word of it in words.txt (stage 3
    decodes into them) though no transcript has it."""
    extra = tmp_path / "extra.txt"
    extra.write_text("ZORBLAXIAN Z AO1 R B L AE1 K S IY0 AH0 N\nZORBLAXIAN Z AO1 R B L AE1 K S IY0 AH0 N\n"
                     "ZORBLAXIAN Z ER0 B L AE1 K SH AH0 N\nCAT K IY1 T\nQUUXLY K W AH1 K S L IY0\n")
    assert read_extra_lexicon(extra)["ZORBLAXIAN"] == [tuple("Z AO R B L AE K S IY AH N".split()),
                                                       tuple("Z ER B L AE K SH AH N".split())]
    texts = {"train": {"u1": "The cat met a Zorblaxian.", "u2": "Vexlorpian cats."}}
    info = prepare_lang(texts, tmp_path / "lang", LangConfig(bpe_vocab_size=60, extra_lexicon=str(extra)))
    lex = read_lexicon(tmp_path / "lang" / "lexicon.txt")
    assert lex["ZORBLAXIAN"] == read_extra_lexicon(extra)["ZORBLAXIAN"]
    assert lex["CAT"] == [tuple("K AE T".split())]                 # CMUdict's, not the extra "K IY T"
    assert lex["QUUXLY"] == [tuple("K W AH K S L IY".split())]     # in no transcript, still a word
    assert "QUUXLY" in read_symbol_table(tmp_path / "lang" / "words.txt")
    oov = (tmp_path / "lang" / "oov_report.tsv").read_text()
    assert "ZORBLAXIAN\t1\textra_lexicon" in oov and "VEXLORPIAN\t1\tg2p:en-us" in oov
    assert info["num_extra_lexicon_words"] == 3 and info["num_vocabulary"] == info["num_words"] + 1
    # Another phone set in the file, a missing file, an IPA lang: errors that say so.
    extra.write_text("CAT k æ t\n")
    with pytest.raises(ValueError, match="extra.txt: CAT: æ not ARPAbet phones"):
        read_extra_lexicon(extra)
    with pytest.raises(FileNotFoundError, match="extra_lexicon .*nope.txt: no such file"):
        prepare_lang(texts, tmp_path / "lang2", LangConfig(extra_lexicon=str(tmp_path / "nope.txt")))
    with pytest.raises(ValueError, match="needs phone_set=arpabet"):
        build_lexicon(["CAT"], "ipa", extra={"CAT": [("K", "AE", "T")]})
