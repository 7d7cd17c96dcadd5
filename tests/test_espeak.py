"""libespeak-ng binding: word events matched to the text, timings that partition the audio."""
import pytest

from valle.corpus.mini.espeak import Espeak, TimingMismatch, Voice, _group_tokens, transcript_word


def tokens(text):
    out, pos = [], 0
    for tok in text.split(" "):
        out.append((pos, pos + len(tok), transcript_word(tok)))
        pos += len(tok) + 1
    return out


def test_group_tokens_exact_merged_and_drifting_positions():
    text = "far too much on the hill"
    toks = tokens(text)  # far@0 too@4 much@8 on@13 the@16 hill@20
    assert _group_tokens(text, toks, [1, 5, 9, 14, 21]) == [[0], [1], [2], [3, 4], [5]]
    # espeak's position for "much" lags into "too": still the next word, not a merge into "too".
    assert _group_tokens(text, toks, [1, 5, 6, 14, 21]) == [[0], [1], [2], [3, 4], [5]]
    with pytest.raises(TimingMismatch):
        _group_tokens(text, toks, [1, 5, 9, 14, 21, 21])  # more events than words
    with pytest.raises(TimingMismatch):
        _group_tokens(text, toks, [9])  # first event skips words


def test_transcript_word():
    assert transcript_word('"Hello,') == "HELLO"
    assert transcript_word("didn\u2019t") == "DIDN'T"
    assert transcript_word("--") == ""


def test_synthesis_words_and_phones():
    syn = Espeak.get().synthesize("Doctor Smith paid forty two dollars, didn't he?", Voice("en-us+f3"))
    assert syn.sample_rate == 22050 and len(syn.audio) > syn.sample_rate
    assert " ".join(w.label for w in syn.words) == "DOCTOR SMITH PAID FORTY TWO DOLLARS DIDN'T HE"
    assert syn.phones[0].start == 0.0 and syn.phones[-1].end == pytest.approx(len(syn.audio) / syn.sample_rate)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(syn.phones, syn.phones[1:]))
    assert "sil" in [p.label for p in syn.phones]  # the comma's pause
    assert [p.label for p, w in zip(syn.phones, syn.phone_word) if w == 1] == ["s", "m", "ɪ", "θ"]  # SMITH


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(Exception, match="no voice 'xx-nope'"):
        Espeak.get().synthesize("hello", Voice("xx-nope"))
