"""The embedded mini corpus: multi-speaker English synthesized offline with espeak-ng in the LibriSpeech and
LibriLight layouts, with the synthesizer's own phone and word timings kept as ground truth."""
