"""Synthesis text front end: lexicon + G2P phones, pauses, and clear errors."""
import json

import pytest

from valle.infer.text import TextError, TextFrontend


@pytest.fixture
def frontend(tmp_path):
    (tmp_path / "lexicon.txt").write_text("!SIL SIL\n<UNK> SPN\nHELLO h ə l oʊ\nHELLO h ɛ l oʊ\nWORLD w ɜː l d\n"
                                          "TWO t uː\nDAY d eɪ\n")
    (tmp_path / "lang_info.json").write_text(json.dumps({"phone_set": "ipa", "g2p_languages": ["en-us"]}))
    phones = ["<eps>", "SIL", "SPN", "h", "ə", "l", "oʊ", "ɛ", "w", "ɜː", "d", "t", "uː", "k", "æ", "ɾ", "ɪ",
              "ŋ", "s", "n", "ɹ", "i", "eɪ", "f", "ɑː", "ɚ", "m", "b", "iː"]
    ids = {p: i for i, p in enumerate(phones)}
    return TextFrontend.from_lang_dir(tmp_path, ids)


def test_lexicon_words_first_variant_and_silences(frontend):
    assert frontend.phones("Hello world") == ["SIL", "h", "ə", "l", "oʊ", "w", "ɜː", "l", "d", "SIL"]
    # Punctuation that marks a pause becomes SIL; numbers are read out like in stage 2.
    assert frontend.phones("Hello, world 2!") == ["SIL", "h", "ə", "l", "oʊ", "SIL", "w", "ɜː", "l", "d",
                                                  "t", "uː", "SIL"]
    assert frontend.phones("  HELLO.  ") == frontend.phones("hello")


def test_a_phone_repeated_across_words_is_one_phone_as_in_training(frontend):
    from valle.align.pipeline import collapse_repeats
    phones = frontend.phones("world day")
    assert phones == ["SIL", "w", "ɜː", "l", "d", "eɪ", "SIL"]  # "d d" -> "d"
    # The same rule as stage 3's TTS phone sequence, on which the models were trained.
    spelled = ["SIL", "w", "ɜː", "l", "d", "d", "eɪ", "SIL"]
    assert [p for p, _, _ in collapse_repeats([(p, i, i + 1) for i, p in enumerate(spelled)])] == phones


def test_words_missing_from_the_lexicon_go_through_g2p(frontend):
    phones = frontend.phones("hello cat")
    assert phones[:5] == ["SIL", "h", "ə", "l", "oʊ"] and phones[-1] == "SIL"
    assert phones[5:-1] == ["k", "æ", "t"]          # espeak-ng en-us
    assert frontend.phones("Café") == frontend.phones("cafe")  # accents folded


@pytest.mark.parametrize("text,message", [
    ("", "the text is empty"),
    ("   ", "the text is empty"),
    ("...", "no words left"),
    ("hello 世界", "cannot read: '世', '界'"),
    ("hello 🙂", "cannot read"),
])
def test_clear_errors(frontend, text, message):
    with pytest.raises(TextError, match=message):
        frontend.phones(text)


def test_phone_outside_the_models_table_is_named(frontend):
    with pytest.raises(TextError, match=r"not in the model's phone table .*THOUGHT"):
        frontend.phones("thought")   # θ is not in this model's table


def test_missing_lang_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="lexicon.txt .stage 2 makes it"):
        TextFrontend.from_lang_dir(tmp_path, {})


def test_split_text_packs_sentences_then_clauses_then_words():
    from valle.infer.text import split_text

    letters = lambda t: sum(c.isalpha() for c in t)   # noqa: E731  (one "phone" per letter)
    text = "Hi there. How are you today? I am fine, thanks, and you are well."
    assert split_text(text, letters, 100) == [text]
    assert split_text(text, letters, 22) == ["Hi there. How are you today?", "I am fine, thanks,",
                                             "and you are well."]
    # A clause too long for the budget is cut at words into (near) equal parts.
    assert split_text("aaaa bbbb cccc dddd eeee ffff gggg", letters, 9) == ["aaaa bbbb", "cccc dddd", "eeee ffff",
                                                                           "gggg"]
    for budget in (6, 8, 13, 30):
        pieces = split_text(text, letters, budget)
        assert all(letters(p) <= budget for p in pieces) and " ".join(pieces).split() == text.split()
    with pytest.raises(TextError, match="alone has more than"):
        split_text("extraordinarily short", letters, 5)


def test_a_phone_the_model_never_saw_takes_another_pronunciation_or_a_safe_stand_in(tmp_path, caplog):
    from valle.infer.text import nearest_known_phone

    (tmp_path / "lexicon.txt").write_text("!SIL SIL\n<UNK> SPN\nSTORY s t oː ɹ i\nSTORY s t ɔː ɹ i\n"
                                          "ROSA r oʊ z ə\nVOICE v ɔɪ s\n")
    (tmp_path / "lang_info.json").write_text(json.dumps({"phone_set": "ipa", "g2p_languages": ["en-us", "en-gb"]}))
    phones = ["<eps>", "SIL", "SPN", "s", "t", "ɔː", "ɹ", "i", "oʊ", "z", "ə", "v"]
    fe = TextFrontend.from_lang_dir(tmp_path, {p: i for i, p in enumerate(phones)})
    # American /oː/ unseen: the British variant, with a warning
    assert fe.phones("story") == ["SIL", "s", "t", "ɔː", "ɹ", "i", "SIL"]
    assert "STORY: said /s t ɔː ɹ i/" in caplog.text
    # a trilled r has a safe English stand-in
    assert fe.phones("rosa") == ["SIL", "ɹ", "oʊ", "z", "ə", "SIL"]
    assert "nearest phones" in caplog.text
    # an English vowel the model never saw has none: the clear error stays
    with pytest.raises(TextError, match=r"phones \['ɔɪ'\] are not in the model's phone table \(words: \['VOICE'\]\)"):
        fe.phones("voice")
    known = {"ɑː", "n", "ɹ"}
    assert [nearest_known_phone(p, known) for p in ("ɑ̃", "nʲ", "r", "ɔɪ", "n")] == ["ɑː", "n", "ɹ", None, "n"]
