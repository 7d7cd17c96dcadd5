# egs/libritts: LibriTTS (585 h, 24 kHz, sentence-segmented, original-case text), the corpus the other
# open VALL-E recipes train on. All of it is labeled: stage 3 force-aligns it with the hybrid ASR.
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.
# Already have the data? Pass --dl-dir, or symlink it at data/libritts/download/LibriTTS.
# The defaults are the paper's (README, "Settings"); this conf sets only what differs from them.

corpus_source=download
corpora="libritts"
libritts_dir=$dl_dir/LibriTTS
libritts_parts="train-clean-100 train-clean-360 train-other-500 dev-clean test-clean"

labeled_train_parts="train-clean-100 train-clean-360 train-other-500"
unlabeled_parts=""
dev_parts="dev-clean"
test_parts="test-clean"

# Stage 2 (lang): CMUdict phones (the default); espeak-ng G2P for words it lacks.

# Stages 5-6: the paper's model and schedule on LibriTTS.
max_batch=80
num_buckets=30
train_dtype=bfloat16
train_nproc=1                   # GPUs per node; > 1 runs torchrun
train_num_workers=4
valid_interval=2000
save_interval=2000
log_interval=100

# Stage 7: test-clean utterances of 4-10 s (the defaults).
synth_batch_size=16
