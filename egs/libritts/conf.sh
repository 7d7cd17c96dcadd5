# egs/libritts: LibriTTS (585 h, 24 kHz, sentence-segmented, original-case text), the corpus the other
# open VALL-E recipes train on. All of it is labeled: stage 3 force-aligns it with the hybrid ASR.
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.
# Already have the data? Pass --dl-dir, or symlink it at data/libritts/download/LibriTTS.

corpus_source=download
corpora="libritts"
libritts_dir=$dl_dir/LibriTTS
libritts_parts="train-clean-100 train-clean-360 train-other-500 dev-clean test-clean"

labeled_train_parts="train-clean-100 train-clean-360 train-other-500"
unlabeled_parts=""
dev_parts="dev-clean"
test_parts="test-clean"

# Stage 2 (lang): CMUdict phones (as Kaldi's LibriSpeech recipe); espeak-ng G2P for words it lacks.
phone_set=arpabet
g2p_languages="en-us"
bpe_vocab_size=500

# Stages 5-6: the paper's model and optimizer on LibriTTS (what other open recipes train on).
model_config=paper
train_steps_ar=800000
train_steps_nar=800000
warmup_steps=32000
peak_lr=5e-4
max_batch=80
num_buckets=30
crop_min=10
crop_max=20
train_dtype=bfloat16
train_nproc=1                   # GPUs per node; > 1 runs torchrun
train_num_workers=4
valid_interval=2000
save_interval=2000
log_interval=100

# Stage 7 (synthesis + evaluation), the paper's protocol on LibriTTS test-clean: targets of 4-10 s, 3 s
# cross-utterance prompts from another utterance of the same speaker, continuation of the first 3 s.
# Decoding, length guards and the WER/SIM hooks keep run.sh's defaults, the values egs/librispeech/conf.sh
# lists with their meaning (plain sampling, RAS off, 1-30 frames per phone, no external models).
test_min_duration=4
test_max_duration=10
synth_batch_size=16
synth_device=auto               # cuda when there is a GPU
