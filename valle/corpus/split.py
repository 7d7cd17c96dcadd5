"""Dividing a flat corpus (one folder, no train/dev/test subfolders: LJSpeech, VCTK, most in-house corpora) into
the recipe's parts, by a rule written in the conf, deterministically.

A rule is a space-separated list of ``key=value``:

    test_speakers=N | a,b,c     hold out N speakers (or these) for test; stage 7 prompts them with their own
                                other utterances, so a held-out speaker is what makes the test zero-shot
    test_every=N | test_fraction=F   hold out utterances instead (a single-speaker corpus: LJSpeech)
    dev_speakers=N | a,b,c      the same for dev, from what test left
    dev_every=N | dev_fraction=F

Everything not held out is ``train``. Deterministic by construction: N speakers are the N whose ids hash
lowest (md5, not Python's salted hash), so they do not depend on file order or on the machine; every n-th
utterance counts in sorted-id order; a fraction takes the utterances whose id hashes below it, so adding
files to the corpus never moves an utterance already placed to another part.
"""
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

PARTS = ("train", "dev", "test")


class SplitError(ValueError):
    """A split rule that does not parse, or that cannot divide this corpus."""


@dataclass(frozen=True)
class HoldOut:
    """One held-out part: by speakers (a count or names) or by utterances (every n-th or a fraction)."""
    speakers: Tuple[str, ...] = ()
    num_speakers: int = 0
    every: int = 0
    fraction: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.speakers or self.num_speakers or self.every or self.fraction)


@dataclass(frozen=True)
class SplitRule:
    test: HoldOut = field(default_factory=HoldOut)
    dev: HoldOut = field(default_factory=HoldOut)

    @property
    def parts(self) -> Tuple[str, ...]:
        """The parts this rule makes, in PARTS order."""
        return tuple(p for p in PARTS if p == "train" or getattr(self, p))

    def check_parts(self, parts: Sequence[str], corpus: str) -> None:
        """SplitError unless ``parts`` (the conf's <corpus>_parts) are the parts this rule makes."""
        if set(parts) != set(self.parts):
            raise SplitError(f"{corpus}: the split rule makes the parts {' '.join(self.parts)}, but {corpus}_parts "
                             f"is {' '.join(parts)!r}; set {corpus}_parts=\"{' '.join(self.parts)}\"")


def parse_split(spec: str) -> Optional[SplitRule]:
    """``"test_speakers=2 dev_every=50"`` -> SplitRule; an empty spec -> None (the corpus has part folders)."""
    if not spec or not spec.strip():
        return None
    held: Dict[str, Dict[str, object]] = {"test": {}, "dev": {}}
    for item in spec.split():
        key, sep, value = item.partition("=")
        part, _, kind = key.partition("_")
        if not sep or part not in held or kind not in ("speakers", "every", "fraction"):
            raise SplitError(f"split rule {spec!r}: cannot read {item!r}; expected test_speakers=N|a,b, "
                             f"test_every=N, test_fraction=F, or the same for dev")
        if held[part]:
            raise SplitError(f"split rule {spec!r}: {part} is given twice ({item!r})")
        try:
            if kind == "speakers":
                if value.isdigit():
                    held[part] = {"num_speakers": int(value)}
                else:
                    names = tuple(v for v in value.split(",") if v)
                    if not names:
                        raise ValueError
                    held[part] = {"speakers": names}
            elif kind == "every":
                held[part] = {"every": int(value)}
                if held[part]["every"] < 2:
                    raise ValueError
            else:
                held[part] = {"fraction": float(value)}
                if not 0 < held[part]["fraction"] < 1:
                    raise ValueError
        except ValueError:
            raise SplitError(f"split rule {spec!r}: bad value in {item!r} (speakers: a count or names; every: "
                             f"an integer >= 2; fraction: between 0 and 1)") from None
        if held[part].get("num_speakers") == 0:
            raise SplitError(f"split rule {spec!r}: {item!r} holds out nothing")
    return SplitRule(test=HoldOut(**held["test"]), dev=HoldOut(**held["dev"]))


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest()[:8], "big")


def _hash_fraction(text: str) -> float:
    return _hash(text) / 2 ** 64


def assign_parts(utterances: Sequence[Tuple[str, Optional[str]]], rule: SplitRule) -> Dict[str, str]:
    """(utterance id, speaker) pairs -> {utterance id: part}. Test is held out first, dev from the rest."""
    part_of: Dict[str, str] = {}
    remaining = sorted(utterances)
    for part in ("test", "dev"):
        hold: HoldOut = getattr(rule, part)
        if not hold:
            continue
        if hold.speakers or hold.num_speakers:
            speakers = sorted({spk for _, spk in remaining if spk})
            if any(spk is None or spk == "" for _, spk in remaining):
                raise SplitError(f"{part}_speakers: some utterances have no speaker id; hold out utterances "
                                 f"instead ({part}_every=N or {part}_fraction=F)")
            if hold.speakers:
                unknown = sorted(set(hold.speakers) - set(speakers))
                if unknown:
                    raise SplitError(f"{part}_speakers: no utterances of {unknown} (speakers: "
                                     f"{', '.join(speakers[:10])}{' ...' if len(speakers) > 10 else ''})")
                chosen = set(hold.speakers)
            else:
                if hold.num_speakers >= len(speakers):
                    raise SplitError(f"{part}_speakers={hold.num_speakers}: the corpus has only {len(speakers)} "
                                     f"speaker(s) left for it, and training needs at least one; "
                                     f"hold out utterances instead ({part}_every=N or {part}_fraction=F)")
                chosen = set(sorted(speakers, key=lambda s: (_hash(s), s))[: hold.num_speakers])
            picked = [u for u, spk in remaining if spk in chosen]
        elif hold.every:
            # Every n-th of the remaining utterances in id order, starting from the n-th: ids of most corpora
            # start with the speaker, so this spreads over the speakers too.
            picked = [u for k, (u, _) in enumerate(remaining, 1) if k % hold.every == 0]
        else:
            picked = [u for u, _ in remaining if _hash_fraction(u) < hold.fraction]
        if not picked:
            raise SplitError(f"the split rule gives {part} no utterances out of {len(remaining)}")
        for u in picked:
            part_of[u] = part
        remaining = [(u, spk) for u, spk in remaining if u not in part_of]
    if not remaining:
        raise SplitError("the split rule leaves no utterances for train")
    for u, _ in remaining:
        part_of[u] = "train"
    return part_of


def split_manifests(recordings, supervisions, rule: SplitRule, parts: Sequence[str], corpus: str = "corpus"):
    """One corpus-wide RecordingSet + SupervisionSet -> ``{part: {"recordings", "supervisions"}}`` for ``parts``
    (which must be the parts the rule makes). A recording goes where its first supervision's utterance goes."""
    from lhotse import RecordingSet, SupervisionSet

    rule.check_parts(parts, corpus)
    first: Dict[str, Tuple[str, Optional[str]]] = {}
    for sup in supervisions:
        first.setdefault(sup.recording_id, (sup.id, sup.speaker))
    part_of_utt = assign_parts(list(first.values()), rule)
    part_of = {rec_id: part_of_utt[utt] for rec_id, (utt, _) in first.items()}
    by_part: Dict[str, Dict[str, List]] = {p: {"recordings": [], "supervisions": []} for p in parts}
    for rec in recordings:
        if rec.id in part_of:
            by_part[part_of[rec.id]]["recordings"].append(rec)
    for sup in supervisions:
        by_part[part_of[sup.recording_id]]["supervisions"].append(sup)
    out = {}
    for p in parts:
        recs, sups = by_part[p]["recordings"], by_part[p]["supervisions"]
        logging.info(f"{corpus}/{p}: {len(recs)} recordings, {len({s.speaker for s in sups})} speakers "
                     f"(split rule)")
        out[p] = {"recordings": RecordingSet.from_recordings(recs), "supervisions": SupervisionSet.from_segments(sups)}
    return out
