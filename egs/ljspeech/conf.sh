# egs/ljspeech: LJSpeech 1.1, 13,100 clips (24 h) of one reader, 22.05 kHz, flat (metadata.csv + wavs/).
# Not zero-shot: one voice, so stage 7's prompts are the same reader's other clips. Sourced by run.sh after
# option parsing: $dl_dir, $data_dir, $exp_dir and $recipe_dir are set.
#
# Text: the corpus's normalized column (numbers, years and abbreviations as its authors spelled them out);
# the raw column is kept on each supervision as custom "original_text" (valle/corpus/ljspeech.py).

corpus_source=download          # lhotse's downloader (2.6 GB); or put the corpus at $ljspeech_dir: manual
corpora="ljspeech"
ljspeech_dir=$dl_dir/LJSpeech-1.1
# No part folders: every 100th clip is test (131), every 50th of the rest dev (259), the rest train.
ljspeech_split="test_every=100 dev_every=50"
ljspeech_parts="train dev test"
# lhotse's own parser gives the raw text and no speaker; to use it instead of ours:
#   ljspeech_prepare=lhotse:prepare_ljspeech

labeled_train_parts="train"
dev_parts="dev"
test_parts="test"

# Stages 5-6: 24 h of one voice: the small model and its schedule (the file says when to change them).
. egs/template/small_corpus.sh

# Stage 7: LJSpeech's clips are 1-10 s; 50 targets of 4-10 s.
test_max_utts=50
