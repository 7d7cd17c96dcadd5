"""Word n-gram LMs (estimation, ARPA files) and the word-level decoding graph HCLG built from one."""
import math

import numpy as np
import pytest

from test_align import WORDS, toy_system
from valle.align.engine import KaldiEngine
from valle.align.hmm import equal_alignment
from valle.align.word_graph import add_disambig, grammar_fst_text, read_graph_lm, word_hclg, words_of
from valle.text.ngram import BOS, EOS, METHODS, UNK, estimate_ngram, read_arpa, write_arpa

SENTENCES = [s.split() for s in ["THE CAT SAT ON THE MAT", "THE DOG SAT", "A CAT RAN ON THE MAT", "THE CAT RAN",
                                 "A DOG SAT ON A MAT"]]


@pytest.mark.parametrize("method", METHODS)
def test_every_history_is_a_distribution_and_arpa_round_trips(method, tmp_path):
    lm = estimate_ngram(SENTENCES, 3, method)
    events = [w for w in lm.vocab if w != BOS]
    assert UNK in events and EOS in events
    # Seen, partly seen and unseen histories (backing off to the unigrams) each sum to one.
    for history in [(), (BOS,), ("THE",), (BOS, "THE"), ("THE", "CAT"), ("ON", "THE"), ("ZZ", "QQ"), ("CAT", "ZZ")]:
        assert sum(10 ** lm.logprob(history, w) for w in events) == pytest.approx(1.0, abs=1e-9), history
    # Seen continuations are likelier than unseen ones, and a training sentence than a shuffled one.
    assert lm.logprob(("THE", "CAT"), "SAT") > lm.logprob(("THE", "CAT"), "DOG")
    assert lm.sentence_logprob("THE CAT SAT".split()) > lm.sentence_logprob("SAT THE CAT".split())
    assert lm.logprob((), "NEVERSEEN") == lm.logprob((), UNK)
    write_arpa(lm, tmp_path / "lm.arpa.gz")
    back = read_arpa(tmp_path / "lm.arpa.gz")
    for history in [("THE", "CAT"), ("A",), (BOS,), ("ZZ",)]:
        for w in events:
            assert back.logprob(history, w) == pytest.approx(lm.logprob(history, w), abs=1e-5)


def test_kneser_ney_lower_orders_count_contexts_not_occurrences():
    # "FRANCISCO" is frequent but only ever after "SAN": as a unigram (a new context) it should be unlikely.
    sents = [["SAN", "FRANCISCO"]] * 6 + [["THE", "HOUSE"], ["A", "HOUSE"], ["MY", "HOUSE"]]
    kn, wb = estimate_ngram(sents, 2, "kneser-ney"), estimate_ngram(sents, 2, "witten-bell")
    assert kn.logprob(("THE",), "FRANCISCO") < kn.logprob(("THE",), "HOUSE") - 0.3  # backed off to unigrams
    assert wb.logprob((), "FRANCISCO") > wb.logprob((), "HOUSE")                     # raw counts: the opposite


def test_malformed_arpa_is_named(tmp_path):
    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0 A\n-x B\n\n\\end\\\n")
    with pytest.raises(ValueError, match="bad.arpa:6"):
        read_arpa(bad)
    bad.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0 A\n-1.0 B\n\n\\end\\\n")
    with pytest.raises(ValueError, match="declares 3 1-grams"):
        read_arpa(bad)


def test_disambiguation_symbols_for_prefixes_and_homophones():
    lex, n = add_disambig({"AB": [("a", "b")], "ABC": [("a", "b", "c")], "BEE": [("b",)], "BE": [("b",)],
                           "CD": [("c", "d")]})
    assert lex["AB"] == [("a", "b", "#1")] and lex["ABC"] == [("a", "b", "c")]
    assert sorted([lex["BE"][0], lex["BEE"][0]]) == [("b", "#1"), ("b", "#2")] and n == 2
    assert lex["CD"] == [("c", "d")]


def test_grammar_fst_backs_off_and_ends_with_the_sentence_end_cost():
    lm = estimate_ngram(SENTENCES, 2, "witten-bell")
    word2id = {w: i for i, w in enumerate(["<eps>", "!SIL", "<UNK>"] + sorted({w for s in SENTENCES for w in s})
                                          + ["#0"])}
    lines = [line.split() for line in grammar_fst_text(lm, word2id, word2id["#0"]).splitlines()]
    assert lines[0][0] == "0"                                                        # the start state first
    backoff = [l for l in lines if len(l) == 5 and int(l[2]) == word2id["#0"]]
    assert backoff and all(l[3] == "0" for l in backoff)                             # #0:eps
    # From the start state (history <s>): "THE" costs -ln P(THE | <s>).
    the = [l for l in lines if len(l) == 5 and l[0] == "0" and int(l[2]) == word2id["THE"]]
    assert float(the[0][4]) == pytest.approx(-lm.logprob((BOS,), "THE") * math.log(10), abs=1e-5)
    finals = [l for l in lines if len(l) == 2]
    assert finals                                                                    # </s> ends sentences


@pytest.mark.parametrize("topology", ["3state", "1state"])
def test_a_known_word_sequence_decodes_to_itself_on_clean_features(topology):
    """HCLG from a trigram of the toy lexicon's words (AB is a prefix of ABC, DA has two pronunciations): each
    sentence's own frame sequence, as log-likelihoods that favour exactly its states, decodes to its words,
    also sentences the LM never saw (through its backoff arcs)."""
    hmm = toy_system(topology)
    lm = estimate_ngram([s.split() for s in ["AB CD", "ABC DA", "CD AB ABC", "DA CD", "AB DA"]], 3)
    graph = word_hclg(hmm, lm, self_loop_scale=0.1)
    id2word = dict(enumerate(WORDS))
    engine = KaldiEngine()
    for n, sentence in enumerate(["AB CD", "ABC DA", "CD AB ABC", "DA CD DA AB", "CD CD CD"]):
        words = sentence.split()
        tids = equal_alignment(hmm.training_graph(words), 8 * len(words) * hmm.min_frames + 10, seed=n)
        ll = np.full((len(tids), hmm.num_pdfs), -10.0, np.float32)
        ll[np.arange(len(tids)), hmm.tid2pdf[np.asarray(tids)]] = 0.0
        res = engine.decode(graph, hmm.pdf_to_tid_matrix(ll), hmm.tm, 13.0)
        assert words_of(res.words, id2word) == words, sentence
        assert len(res.tids) == len(tids)


def test_a_word_decode_becomes_timed_words_with_its_confidence():
    """What stage 3 keeps of a word decode: the words timed through the lexicon from the path's phones, an
    acoustic score of 0 on features that favour exactly the path's states, and a positive graph cost per word
    (the decoder's likelihood is the acoustic sum minus the graph cost)."""
    from valle.align.pipeline import phone_items, word_decode_result

    hmm = toy_system("3state")
    lm = estimate_ngram([s.split() for s in ["AB CD", "ABC DA", "CD AB ABC", "DA CD", "AB DA"]], 3)
    graph = word_hclg(hmm, lm, self_loop_scale=0.1)
    words = ["ABC", "DA", "CD"]
    tids = equal_alignment(hmm.training_graph(words), 60, seed=3)
    ll = np.full((len(tids), hmm.num_pdfs), -10.0, np.float32)
    ll[np.arange(len(tids)), hmm.tid2pdf[np.asarray(tids)]] = 0.0
    loglikes = hmm.pdf_to_tid_matrix(ll)
    res = KaldiEngine().decode(graph, loglikes, hmm.tm, 13.0)
    phones = phone_items(hmm, res.tids, 1, len(tids) * 0.01)
    r = word_decode_result(phones, res, loglikes, dict(enumerate(WORDS)), hmm.lexicon)
    assert [w for w, _, _ in r.words] == words and r.decode["text"] == "ABC DA CD"
    starts = [s for _, s, _ in r.words]
    assert starts == sorted(starts) and r.words[0][1] >= 0 and r.words[-1][2] <= len(tids) * 0.01 + 1e-6
    assert r.decode["acoustic_score"] == pytest.approx(0.0, abs=1e-4) and r.score == r.decode["acoustic_score"]
    assert r.decode["graph_cost_per_word"] > 0


def test_an_external_lm_leaves_out_ngrams_with_words_outside_words_txt(tmp_path):
    """align_lm: an ARPA file with words the lexicon lacks (as LibriSpeech's 200k-word LM against a smaller
    words.txt) loses exactly the n-grams that use them, as arpa2fst with a symbol table; the graph then decodes
    the known words. An LM in another case shares no words: a clear error, not an empty graph."""
    hmm = toy_system("3state")
    sentences = [s.split() for s in ["AB CD", "ABC DA ZORB", "CD AB ABC", "ZORB CD", "AB DA"]]
    full = estimate_ngram(sentences, 3)
    write_arpa(full, tmp_path / "lm.arpa.gz")
    lm = read_graph_lm(tmp_path / "lm.arpa.gz", hmm.word2id)
    for n in (1, 2, 3):
        with_oov = [g for g in full.probs[n] if "ZORB" in g]
        assert with_oov and lm.skipped[n] == len(with_oov)
        assert set(lm.probs[n]) == set(full.probs[n]) - set(with_oov)
    assert lm.backoffs[2].keys() == {g for g in full.backoffs[2] if "ZORB" not in g}
    graph = word_hclg(hmm, lm, self_loop_scale=0.1)
    words = ["CD", "AB", "DA"]
    tids = equal_alignment(hmm.training_graph(words), 50, seed=1)
    ll = np.full((len(tids), hmm.num_pdfs), -10.0, np.float32)
    ll[np.arange(len(tids)), hmm.tid2pdf[np.asarray(tids)]] = 0.0
    res = KaldiEngine().decode(graph, hmm.pdf_to_tid_matrix(ll), hmm.tm, 13.0)
    assert words_of(res.words, dict(enumerate(WORDS))) == words
    write_arpa(estimate_ngram([[w.lower() for w in s] for s in sentences], 3), tmp_path / "lower.arpa")
    with pytest.raises(ValueError, match="only 0 of its 5 words are in words.txt; is it in another case"):
        read_graph_lm(tmp_path / "lower.arpa", hmm.word2id)
    with pytest.raises(FileNotFoundError, match="align_lm .*none.arpa: no such file"):
        read_graph_lm(tmp_path / "none.arpa", hmm.word2id)
