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
# Sized so that ./run.sh (stages 0-7) takes under 15 minutes on 2 cores (see README for the measured run).
mini_seed=2301
mini_train_speakers=10          # train-clean-100
mini_train_utts_per_speaker=30
mini_dev_speakers=2             # dev-clean (held out)
mini_dev_utts_per_speaker=15
mini_test_speakers=2            # test-clean (held out)
mini_test_utts_per_speaker=20
mini_unlabeled_speakers="3 1 1" # LibriLight small, medium, large
mini_unlabeled_files_per_speaker=2
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
# peak lr 5e-4, 10-20 s crops. Scaled for mini: the tiny model, a hundred updates on 2 CPU cores,
# crops of 4-12 s (most mini utterances are shorter and are used whole).
model_config=tiny
train_steps_ar=100
train_steps_nar=100
warmup_steps=20
peak_lr=2e-3
max_batch=40                    # seconds of cropped audio per batch and process (batch_unit=tokens: tokens)
batch_unit=seconds
num_buckets=6
crop_min=4
crop_max=12
prompt_seconds=3
train_dtype=bfloat16            # float32 | bfloat16 | float16; bf16 is 1.3-2x faster on CPUs with avx512_bf16 (bench/train_speed.py)
train_nproc=1                   # processes per node (torchrun when > 1): GPUs, or CPU ranks on gloo
valid_interval=25
save_interval=25
log_interval=10

# Stage 7 (synthesis + evaluation), the paper's protocol on the held-out test speakers: targets of 4-10 s;
# cross-utterance prompt = 3 s of another utterance of the same speaker (whole words); continuation of the
# target's own first 3 s. Mini takes at most 5 targets per speaker (2 speakers) to stay within 15 minutes.
test_min_duration=4
test_max_duration=10
test_max_utts=0                 # 0: all
test_max_per_speaker=5          # 0: all
synth_modes="cross continuation"
synth_batch_size=10
synth_temperature=1.0
synth_top_k=0                   # 0: off
synth_top_p=1.0                 # 1: off
synth_ras_window=0              # repetition-aware sampling (VALL-E 2): window; 0: off
synth_ras_threshold=0.1
synth_min_frames_per_phone=1     # length guards from the phone count (75 Hz frames per phone)
synth_max_frames_per_phone=30    # past this: cut, counted as an EOS failure
synth_seed=0
synth_device=auto               # cuda when there is a GPU
# WER and speaker similarity need external models, given as commands (see README, "Stage 7"):
#   asr_command: CMD <wav list "id<TAB>path"> <out "id<TAB>transcript">
#   sim_command: CMD <pairs "id<TAB>wav<TAB>prompt wav"> <out "id<TAB>similarity">
asr_command=""
sim_command=""
