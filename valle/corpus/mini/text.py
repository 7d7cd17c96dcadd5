"""Sentence generator for the mini corpus: varied English with numbers, abbreviations and punctuation.

Deterministic for a given ``random.Random``. Sentences are written text (digits, "$", "Dr.", quotes);
``valle.text.normalize`` turns them into the spoken and transcript forms.

The templates' words leave out phones every English G2P voice has (no "oi", no American "story" vowel): a
recipe trained on them could not say "voice". COVERAGE sentences carry those phones; the corpus builder puts
each of them in the training part (valle/corpus/mini/build.py), and tests/test_mini_corpus.py checks that
templates + COVERAGE cover each G2P voice's inventory (``valle.text.lexicon.g2p_inventory``).
"""
import random
from typing import List

NAMES = ("Anna Brooks", "Tom Hardy", "Mary Ellis", "John Carter", "Lucy Grant", "Peter Moss",
         "Helen Ward", "James Cole", "Alice Baker", "Robert Lane", "Emma Stone", "David Price",
         "Clara Hughes", "Samuel Reed", "Grace Turner", "Henry Fisher", "Julia Marsh", "Oliver Hunt")
TITLES = ("Dr.", "Mr.", "Mrs.", "Ms.", "Prof.", "Capt.")
PLACES = ("the old harbor", "the village square", "the northern hills", "the railway station",
          "the public library", "the quiet garden", "the market hall", "the river bank",
          "the small chapel", "the eastern road", "the city museum", "the winter palace",
          "the farm beyond the forest", "the lighthouse", "the courthouse", "the bakery on the corner")
TOWNS = ("London", "Boston", "Paris", "Chicago", "Dublin", "Vienna", "Denver", "Oxford",
         "Geneva", "Seattle", "Madrid", "Toronto")
NOUNS = ("letter", "basket", "lantern", "violin", "map", "clock", "blanket", "ticket", "notebook",
         "bicycle", "kettle", "painting", "hammer", "umbrella", "ladder", "mirror", "compass",
         "wagon", "candle", "jacket", "garden", "window", "bridge", "horse", "dog", "ship")
ADJECTIVES = ("heavy", "bright", "ancient", "curious", "silent", "golden", "broken", "gentle",
              "narrow", "splendid", "dusty", "careful", "strange", "cheerful", "weary", "enormous")
VERBS_PAST = ("carried", "found", "painted", "repaired", "sold", "borrowed", "discovered",
              "returned", "opened", "forgot", "described", "guarded", "measured", "admired")
ADVERBS = ("slowly", "quietly", "eagerly", "suddenly", "carefully", "happily", "rarely", "gladly")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FEELINGS = ("tired", "hungry", "certain", "worried", "delighted", "surprised", "ready", "afraid")


# Each carries phones the templates do not (en-us / en-gb espeak-ng): oi (boys, voice, noise, joined, coin, toy),
# the velar fricative (Loch), en-us "oː" (story, glorious, territory, chorus), and more of the rare ones (pleasure,
# usual: zh; youths, thin: th; bath).
COVERAGE = (
    "The boys heard a voice and a strange noise by Loch Ness.",
    "{p} told a glorious story about the territory, with pleasure.",
    "As usual, {p} joined the chorus and enjoyed the toy coin.",
)


def coverage_sentence(r: random.Random, k: int) -> str:
    """The ``k``-th COVERAGE sentence (cyclic), its name slot filled from ``r``."""
    return COVERAGE[k % len(COVERAGE)].format(p=_person(r))


def _person(r: random.Random) -> str:
    name = r.choice(NAMES)
    return f"{r.choice(TITLES)} {name.split()[1]}" if r.random() < 0.35 else name.split()[0]


def _thing(r: random.Random) -> str:
    return f"the {r.choice(ADJECTIVES)} {r.choice(NOUNS)}" if r.random() < 0.6 else f"the {r.choice(NOUNS)}"


def _templates(r: random.Random) -> List[str]:
    p, q = _person(r), _person(r)
    n_small = r.randint(2, 19)
    n_mid = r.randint(21, 999)
    year = r.randint(1820, 2024)
    money = f"${r.randint(1, 500)}" + (f".{r.randint(10, 99)}" if r.random() < 0.5 else "")
    clock = f"{r.randint(1, 12)}:{r.choice(['00', '05', '15', '30', '45', '50'])}"
    day_of_month = r.randint(1, 28)
    day = f"{r.choice(MONTHS)} " + (_ordinal(day_of_month) if r.random() < 0.5 else str(day_of_month))
    return [
        f"{p} {r.choice(VERBS_PAST)} {_thing(r)} near {r.choice(PLACES)}.",
        f"In {year}, {p} moved to {r.choice(TOWNS)} with {n_small} {r.choice(NOUNS)}s.",
        f"\"Is it true that you {r.choice(VERBS_PAST)} {_thing(r)}?\" asked {p}.",
        f"The train leaves at {clock} on {r.choice(WEEKDAYS)}, so don't be late!",
        f"{p} paid {money} for {_thing(r)}, and {q} thought it was far too much.",
        f"On {day}, about {r.randint(5, 95)}% of the town gathered at {r.choice(PLACES)}.",
        f"We counted {n_mid:,} {r.choice(NOUNS)}s; {q} counted {n_mid + r.randint(1, 40):,}.",
        f"{p} {r.choice(ADVERBS)} {r.choice(VERBS_PAST)} {_thing(r)} - nobody knew why.",
        f"I'm {r.choice(FEELINGS)}, said {p}, but we can't stop here.",
        f"{q}'s {r.choice(NOUNS)} was {r.choice(ADJECTIVES)}, and {p}'s was even more so.",
        f"Room No. {r.randint(2, 60)} is on the {_ordinal(r.randint(2, 9))} floor of {r.choice(PLACES)}.",
        f"Why would {p} leave {_thing(r)} at {r.choice(PLACES)} before {clock}?",
        f"{p} and {q} walked {r.randint(2, 30)} miles from {r.choice(TOWNS)} to {r.choice(TOWNS)}.",
        f"Everyone was {r.choice(FEELINGS)} when {_thing(r)} {r.choice(['fell', 'vanished', 'arrived', 'sang'])}.",
        f"The {r.choice(ADJECTIVES)} letter, dated {r.choice(MONTHS)} {year}, was signed by {q}.",
        f"{p} lived at {r.randint(10, 999)} {r.choice(['Oak', 'Elm', 'Mill', 'High'])} Street for {n_small} years.",
    ]


def _ordinal(n: int) -> str:
    """7 -> '7th', 22 -> '22nd' (written form; the normalizer reads it back as words)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def sentence(r: random.Random) -> str:
    """One written-form English sentence."""
    return r.choice(_templates(r))
