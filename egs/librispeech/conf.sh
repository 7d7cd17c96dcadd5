# egs/librispeech: the paper's setup. LibriSpeech 960 h (labeled: trains the hybrid ASR of stage 3
# and is force-aligned) + LibriLight (unlabeled, 60 k h: decoded by that ASR into phone alignments).
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.
#
# Disk: LibriSpeech ~60 GB; LibriLight small 35 GB, medium 321 GB, large 3.05 TB (tarballs are kept
# next to the extracted data until you remove them). Already have the data? Pass --dl-dir, or
# symlink it: data/librispeech/download/LibriSpeech and data/librispeech/download/librilight/{small,...}.
# Parts already present are never downloaded again (and never touched).

corpus_source=download
corpora="librispeech librilight"
librispeech_dir=$dl_dir/LibriSpeech
librispeech_parts="train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other"
librilight_dir=$dl_dir/librilight
librilight_parts="small medium large"

labeled_train_parts="train-clean-100 train-clean-360 train-other-500"
unlabeled_parts="small medium large"
dev_parts="dev-clean"
test_parts="test-clean"

# Stage 2 (lang): CMUdict phones (as Kaldi's LibriSpeech recipe); espeak-ng G2P for words it lacks.
phone_set=arpabet
g2p_languages="en-us"
bpe_vocab_size=500

# Stages 5-6 (AR and NAR training): the paper's settings. VALL-E trains on LibriLight only (60k h,
# phones from the stage-3 ASR); LibriSpeech 960 h trains that ASR.
tts_train_parts="$unlabeled_parts"
model_config=paper              # 12 layers, 16 heads, 1024 dims, 4096 FFN, dropout 0.1
train_steps_ar=800000
train_steps_nar=800000
warmup_steps=32000
peak_lr=5e-4
max_batch=80                    # seconds per GPU and batch: ~6k acoustic tokens (the paper's batch per GPU)
batch_unit=seconds
num_buckets=30
crop_min=10
crop_max=20
prompt_seconds=3
train_dtype=bfloat16
train_nproc=1                   # GPUs per node (the paper: 16 V100s); > 1 runs torchrun
train_num_workers=4
valid_interval=2000
save_interval=2000
log_interval=100

# Stage 7 (synthesis + evaluation), the paper's protocol: LibriSpeech test-clean utterances of 4-10 s (all
# of them, in id order); cross-utterance prompt = 3 s of another utterance of the same speaker (whole
# words); continuation of the target's own first 3 s.
test_min_duration=4
test_max_duration=10
test_max_utts=0                 # 0: all
test_max_per_speaker=0          # 0: all
synth_modes="cross continuation"
synth_batch_size=16
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
