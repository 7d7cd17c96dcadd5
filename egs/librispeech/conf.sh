# egs/librispeech: the paper's setup. LibriSpeech 960 h (labeled: trains the hybrid ASR of stage 3
# and is force-aligned) + LibriLight (unlabeled, 60 k h: decoded by that ASR into phone alignments).
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.
#
# Disk: LibriSpeech ~60 GB; LibriLight small 35 GB, medium 321 GB, large 3.05 TB (tarballs are kept
# next to the extracted data until you remove them). Already have the data? Pass --dl-dir, or
# symlink it: data/librispeech/download/LibriSpeech and data/librispeech/download/librilight/{small,...}.
# Parts already present are never downloaded again (and never touched).
#
# The defaults are the paper's (README, "Settings": 12-layer 1024-dim models, AdamW at 5e-4 with 32k warm-up
# updates then linear decay to 800k, 10-20 s crops, 3 s prompts; stage 7 on test-clean 4-10 s with 3 s
# prompts); this conf sets only what differs from them.

# Jobs (Kaldi's cmd.sh): stages 3-4 run --nj split jobs through $cmd. On a Slurm cluster, e.g.
#   ./run.sh --recipe librispeech --nj 400 --cmd "utils/slurm.pl --mem 6G --time 12:00:00"
# (README, "Paper scale"); here, utils/run.pl runs them on this machine.
cmd=utils/run.pl

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

# LibriSpeech's LM resources (openslr 11), fetched by stage 0 into $lm_dir (resumable; sizes and gzip CRCs
# checked; files already there are used). Offline? Put them there yourself (corpus_source=manual checks them), or
# point align_lm / extra_lexicon at your copies. lm_base_url=https://us.openslr.org/resources/11 for a mirror.
lm_dir=$dl_dir/lm
lm_files="3-gram.pruned.1e-7.arpa.gz librispeech-lexicon.txt"

# Stage 2 (lang): CMUdict phones (as Kaldi's LibriSpeech recipe; the default); LibriSpeech's lexicon for words
# CMUdict lacks (its 200k words join the vocabulary stage 3 decodes LibriLight into); espeak-ng G2P for the rest.
extra_lexicon=$lm_dir/librispeech-lexicon.txt

# Stage 3: LibriLight decoded with the words of LibriSpeech's pruned trigram (Kaldi's tgmed), as the paper's
# hybrid ASR (README, "Word decoding at LibriSpeech scale").
align_lm=$lm_dir/3-gram.pruned.1e-7.arpa.gz

# Stages 5-6: VALL-E trains on LibriLight only (60k h, phones from the stage-3 ASR); LibriSpeech 960 h trains
# that ASR.
tts_train_parts="$unlabeled_parts"
max_batch=80                    # seconds per GPU and micro-batch: ~6k acoustic tokens (the paper's batch per GPU)
accum_grad=16                   # 16 micro-batches per update: 1 GPU sees the paper's global batch (16 GPUs);
                                # with train_nproc GPUs set accum_grad to 16 / train_nproc
num_buckets=30
train_dtype=bfloat16
train_nproc=1                   # GPUs per node (the paper: 16 V100s); > 1 runs torchrun
train_num_workers=4
valid_interval=2000
save_interval=2000
log_interval=100

# Stage 7: every test-clean utterance of 4-10 s (the defaults), 16 per batch on a GPU.
synth_batch_size=16
# WER and speaker similarity need external models, given as commands (see README, "Stage 7"):
#   asr_command: CMD <wav list "id<TAB>path"> <out "id<TAB>transcript">
#   sim_command: CMD <pairs "id<TAB>wav<TAB>prompt wav"> <out "id<TAB>similarity">
