# egs/mini: the embedded corpus. Stage 0 synthesizes it offline with espeak-ng, in the real
# LibriSpeech (labeled) and LibriLight (unlabeled) layouts, with the synthesizer's own phone and
# word timings kept aside under $dl_dir/ground_truth/ for measuring alignment accuracy.
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.
#
# A conf sets only what differs from the defaults; every setting, its default and its stage are in the
# README ("Settings") and in each stage script's --help. A name no stage knows is an error.

corpus_source=synthesize        # synthesize | download | manual
corpora="librispeech librilight"
librispeech_dir=$dl_dir/LibriSpeech
librispeech_parts="train-clean-100 dev-clean test-clean"
librilight_dir=$dl_dir/librilight
librilight_parts="small medium large"
# The corpus's size: the mini_* settings (defaults = this recipe's size: 10 training speakers x 30
# utterances, 2 dev, 2 test, 5 LibriLight speakers; ./run.sh, stages 0-7, in under 15 minutes on 2 cores).

# Roles of the parts in later stages.
labeled_train_parts="train-clean-100"
unlabeled_parts="small medium large"
dev_parts="dev-clean"
test_parts="test-clean"

# Stage 2 (lang). The mini corpus is espeak-ng speech, so its lexicon is espeak-ng's own phonemes
# (IPA), with American and British variants: the same inventory as the ground truth, scored phone by phone.
phone_set=ipa
g2p_languages="en-us en-gb"

# Stage 3 (hybrid ASR alignment): the defaults (16 GMM iterations, 500 Gaussians, 8 DNN epochs, 10 ms).

# Stage 4 (codec). No EnCodec weights can be had offline, and a random-weight EnCodec's audio is not speech:
# mini uses the log-mel residual VQ (8 x 1024 codes at 75 Hz, EnCodec's token shape) fitted to a third of its
# training audio, with a Griffin-Lim vocoder (valle/codec/mel_rvq.py). librispeech/libritts use EnCodec.
codec=mel_rvq
codec_fit_frames=54000

# Stages 5-6 (AR and NAR training). The paper's values are the defaults; scaled for mini: the tiny model,
# a hundred updates on 2 CPU cores, crops of 4-12 s (most mini utterances are shorter and are used whole).
model_config=tiny
num_steps=100
warmup_steps=20
peak_lr=2e-3
max_batch=40                    # seconds of cropped audio per batch and process
num_buckets=6
crop_min=4
crop_max=12
train_dtype=auto                # bfloat16 on CPUs with AVX-512 BF16/AMX (1.3-2x faster, bench/train_speed.py),
                                # float32 elsewhere (bf16 is emulated there: 30x slower on an AVX2 CPU)
valid_interval=25
save_interval=25
log_interval=10

# Stage 7 (synthesis + evaluation), the paper's protocol on the held-out test speakers (the defaults: targets of
# 4-10 s, 3 s prompts, plain sampling). Mini takes at most 5 targets per speaker (2 speakers), in one batch.
test_max_per_speaker=5
synth_batch_size=10
