# egs/vctk: VCTK, 109 English speakers of many accents (44 h), 48 kHz, flat (txt/<spk>/ + wav48/<spk>/).
# Release 0.80 ("VCTK-Corpus", wav48/*.wav) or 0.92 (wav48_silence_trimmed/*_mic1.flac): our parser reads
# both, and leaves out transcripts without audio instead of stopping (valle/corpus/vctk.py). Sourced by run.sh
# after option parsing: $dl_dir, $data_dir, $exp_dir and $recipe_dir are set.
#
# Text: the transcripts as written (plain read prose; stage 2 spells the few numbers, en-us style).

corpus_source=download          # lhotse's downloader (release 0.80, 11 GB); or put the corpus there: manual
corpora="vctk"
vctk_dir=$dl_dir/VCTK-Corpus
# No part folders: 4 held-out speakers for test (zero-shot, as the paper), every 50th clip of the rest for dev.
vctk_split="test_speakers=4 dev_every=50"
vctk_parts="train dev test"

labeled_train_parts="train"
dev_parts="dev"
test_parts="test"

# Stages 5-6: 44 h: the small model and its schedule (the file says when to change them).
. egs/template/small_corpus.sh

# Stage 7: VCTK's sentences are short (most 2-5 s): targets from 3 s, prompts of 2.5 s; 10 per test speaker.
test_min_duration=3
test_prompt_seconds=2.5
test_max_per_speaker=10
