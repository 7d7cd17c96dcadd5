"""The zero-shot TTS test list (VALL-E's protocol), built deterministically from aligned test cuts.

Targets: every supervision of the test parts whose duration lies in [min_duration, max_duration]
(the paper: LibriSpeech test-clean, 4-10 s), in id order, at most ``max_per_speaker`` per speaker and
``max_utts`` in all (0: no limit).
Cross-utterance prompt: another utterance of the same speaker, the next one in id order that has
enough speech (cyclic), cut at word boundaries from its first word to the last word ending within
``prompt_seconds`` (the paper: a 3 s segment); the prompt's transcript = those words.
Continuation prompt: the target's own first words, cut the same way; the continuation says the words after
them, and only those are scored (a target whose words all lie within the prompt gets no continuation).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from valle.eval.config import TestListConfig


@dataclass
class PromptCrop:
    utterance: str          # supervision id of the prompt's utterance
    cut_id: str
    start: float            # seconds in the cut's recording
    end: float
    text: str


@dataclass
class TestItem:
    id: str                 # supervision id
    speaker: str
    text: str
    cut_id: str
    start: float            # supervision start/duration in the cut's recording
    duration: float
    prompt: PromptCrop
    continuation: Optional[PromptCrop] = None  # the target's own first words: the continuation's prompt
    continuation_text: str = ""                # the words after them: what the continuation must say

    @property
    def continuation_seconds(self) -> float:
        """The ground truth's seconds after the continuation prompt (what the continuation should last)."""
        return self.start + self.duration - self.continuation.end if self.continuation else 0.0


def word_prompt(words: Sequence[Tuple[str, float, float]], prompt_seconds: float) -> Optional[Tuple[float, float, str]]:
    """(start, end, text) of the words from the first one up to the last ending within ``prompt_seconds``;
    None when that spans less than half of ``prompt_seconds``."""
    if not words:
        return None
    start = words[0][1]
    taken = [w for w in words if w[2] - start <= prompt_seconds + 1e-6]
    if not taken or taken[-1][2] - start < prompt_seconds / 2:
        return None
    return start, taken[-1][2], " ".join(w[0] for w in taken)


def build_test_list(cuts, cfg: TestListConfig = TestListConfig()) -> Tuple[List[TestItem], Dict[str, str]]:
    """cuts: lhotse cuts with word alignments (stage 3's aligned test parts).
    -> (test items, {supervision id: why it was left out} for in-range targets that could not be used)."""
    min_duration, max_duration, max_utts, max_per_speaker, prompt_seconds = (
        cfg.min_duration, cfg.max_duration, cfg.max_utts, cfg.max_per_speaker, cfg.prompt_seconds)
    sups = []
    for cut in cuts:
        for sup in cut.supervisions:
            words = [(w.symbol, w.start, w.end) for w in (sup.alignment or {}).get("word", [])]
            sups.append((sup.id, sup.speaker, sup.text, cut.id, sup.start, sup.duration, words))
    sups.sort(key=lambda s: s[0])
    by_speaker: Dict[str, list] = {}
    for s in sups:
        by_speaker.setdefault(s[1], []).append(s)
    items, skipped, per_speaker = [], {}, {}
    for sid, spk, text, cut_id, start, duration, words in sups:
        if not (min_duration <= duration <= max_duration):
            continue
        if max_utts and len(items) >= max_utts:
            break
        if max_per_speaker and per_speaker.get(spk, 0) >= max_per_speaker:
            continue
        same = by_speaker[spk]
        i = next(k for k, s in enumerate(same) if s[0] == sid)
        prompt = None
        for other in same[i + 1:] + same[:i]:
            crop = word_prompt(other[6], prompt_seconds)
            if crop is not None:
                prompt = PromptCrop(other[0], other[3], crop[0], crop[1], crop[2])
                break
        if prompt is None:
            skipped[sid] = (f"speaker {spk} has no other utterance with word alignments covering "
                            f"{prompt_seconds / 2:g}-{prompt_seconds:g} s for a prompt")
            continue
        item = TestItem(sid, spk, text, cut_id, start, duration, prompt)
        own = word_prompt(words, prompt_seconds)
        taken = len(own[2].split()) if own else 0
        if own is not None and taken < len(words):
            item.continuation = PromptCrop(sid, cut_id, own[0], own[1], own[2])
            item.continuation_text = " ".join(w[0] for w in words[taken:])
        items.append(item)
        per_speaker[spk] = per_speaker.get(spk, 0) + 1
    return items, skipped
