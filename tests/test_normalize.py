"""Text normalization: numbers, currency, times, ordinals, abbreviations, apostrophes, edge cases."""
import pytest

from valle.text.normalize import (normalize_spoken, number_to_words, ordinal_to_words, to_transcript,
                                  year_to_words)


@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (42, "forty two"), (100, "one hundred"),
    (101, "one hundred one"), (1000, "one thousand"), (1205, "one thousand two hundred five"),
    (1_000_000, "one million"), (2_500_017, "two million five hundred thousand seventeen"), (-3, "minus three"),
])
def test_cardinals(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize("n,words", [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (12, "twelfth"),
                                     (20, "twentieth"), (21, "twenty first"), (100, "one hundredth")])
def test_ordinals(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize("n,words", [(1984, "nineteen eighty four"), (1900, "nineteen hundred"),
                                     (1805, "eighteen oh five"), (2005, "two thousand five"),
                                     (2024, "twenty twenty four")])
def test_years(n, words):
    assert year_to_words(n) == words


@pytest.mark.parametrize("text,transcript", [
    ("Dr. Smith paid $42.50, didn't he?", "DOCTOR SMITH PAID FORTY TWO DOLLARS AND FIFTY CENTS DIDN'T HE"),
    ("It cost $1.", "IT COST ONE DOLLAR"),
    ("In 1984 there were 1,200 people.", "IN NINETEEN EIGHTY FOUR THERE WERE ONE THOUSAND TWO HUNDRED PEOPLE"),
    ("Meet me at 7:05, or at 9:00.", "MEET ME AT SEVEN OH FIVE OR AT NINE O'CLOCK"),
    ("The 21st floor; 15% off!", "THE TWENTY FIRST FLOOR FIFTEEN PERCENT OFF"),
    ("Pi is 3.14.", "PI IS THREE POINT ONE FOUR"),
    ("Mr. & Mrs. Jones live at No. 7.", "MISTER AND MISSUS JONES LIVE AT NUMBER SEVEN"),
    ("He said no. Then he left.", "HE SAID NO THEN HE LEFT"),  # "no." is not "number" here
    ("A well-known fact -- surely.", "A WELL KNOWN FACT SURELY"),
    ("\"Quoted,\" she said; the captain's 'log'.", "QUOTED SHE SAID THE CAPTAIN'S LOG"),
    ("It\u2019s fine.", "IT'S FINE"),
    ("", ""), ("   ", ""), ("?!...", ""),
])
def test_transcripts(text, transcript):
    assert to_transcript(text) == transcript


def test_spoken_form_keeps_case_and_punctuation():
    assert normalize_spoken("Dr. Jones arrived at 7:30, on May 3rd!") == \
        "Doctor Jones arrived at seven thirty, on May third!"


@pytest.mark.parametrize("text,transcript", [
    ("CAFÉ NAÏVE FAÇADE — RÉSUMÉ", "CAFE NAIVE FACADE RESUME"),       # folded, not cut into fragments
    ("Æsop's Œuvre, Straße", "AESOP'S OEUVRE STRASSE"),
    ("“Quoted” ‘single’ don’t", "QUOTED SINGLE DON'T"),
    ("Kraków Łódź Þór", "KRAKOW LODZ THOR"),
    ("the ﬁnal №5", "THE FINAL NUMBER FIVE"),
    ("the word λόγος here", "THE WORD ΛΟΓΟΣ HERE"),                 # another script: kept whole
    ("Ωmega", "ΩMEGA"),                                             # not "MEGA"
    ("™ © 😀 snake_case", "TM SNAKE CASE"),
])
def test_latin_letters_are_folded_and_other_words_kept_whole(text, transcript):
    assert to_transcript(text) == transcript
