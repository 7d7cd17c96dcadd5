# egs/mini: the embedded corpus. Stage 0 synthesizes it offline with espeak-ng, in the real
# LibriSpeech (labeled) and LibriLight (unlabeled) layouts, with the synthesizer's own phone and
# word timings kept aside under $dl_dir/ground_truth/ for measuring alignment accuracy.
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.

corpus_source=synthesize        # synthesize | download | manual
corpora="librispeech librilight"
librispeech_dir=$dl_dir/LibriSpeech
librispeech_parts="train-clean-100 dev-clean test-clean"
librilight_dir=$dl_dir/librilight
librilight_parts="small medium large"

# Size of the synthesized corpus (speakers are espeak-ng voice/variant/pitch/rate settings).
# The defaults give 885 files (870 utterances + 15 LibriLight files), 1.94 h, 19 speakers, in ~35 s on 2 cores.
mini_seed=2301
mini_train_speakers=10          # train-clean-100
mini_train_utts_per_speaker=80
mini_dev_speakers=2             # dev-clean (held out)
mini_dev_utts_per_speaker=15
mini_test_speakers=2            # test-clean (held out)
mini_test_utts_per_speaker=20
mini_unlabeled_speakers="3 1 1" # LibriLight small, medium, large
mini_unlabeled_files_per_speaker=3
mini_unlabeled_sentences_per_file=10

# Roles of the parts in later stages.
labeled_train_parts="train-clean-100"
unlabeled_parts="small medium large"
dev_parts="dev-clean"
test_parts="test-clean"

# Stage 2 (lang). The mini corpus is espeak-ng speech, so its lexicon is espeak-ng's own phonemes
# (IPA), with American and British variants: the same inventory as the ground truth, scored phone by phone.
phone_set=ipa                   # arpabet (CMUdict + G2P for OOVs) | ipa (espeak-ng phonemes)
g2p_languages="en-us en-gb"     # espeak-ng voices used for G2P (ipa: one variant each)
bpe_vocab_size=500

# Stage 3 (hybrid ASR alignment).
align_engine=auto               # auto (k2 when it imports, else Kaldi) | kaldi | k2
gmm_iters=16
gmm_total_gauss=500             # 1000 measured worse on mini (9.2 vs 8.9 ms median) and 2x slower
dnn_epochs=8
dnn_frame_shift=10              # 10 (DNN at every input phase, GMM graphs) | 30 (the paper's frame shift)

# Stages 5-6 (AR and NAR training). The paper: model_config=paper, 800k updates, 32k warm-up,
# peak lr 5e-4, 10-20 s crops. Scaled for mini: the tiny model, a few hundred updates on 2 CPU cores,
# crops of 4-12 s (most mini utterances are shorter and are used whole).
model_config=tiny
train_steps_ar=200
train_steps_nar=200
warmup_steps=20
peak_lr=2e-3
max_batch=60                    # seconds of cropped audio per batch and process (batch_unit=tokens: tokens)
batch_unit=seconds
num_buckets=6
crop_min=4
crop_max=12
prompt_seconds=3
train_dtype=bfloat16            # float32 | bfloat16 | float16; bf16 is 1.3-2x faster on CPUs with avx512_bf16 (bench/train_speed.py)
train_nproc=1                   # processes per node (torchrun when > 1): GPUs, or CPU ranks on gloo
valid_interval=50
save_interval=50
log_interval=10
