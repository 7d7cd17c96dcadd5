# egs/template: start here to run the recipe on a corpus of your own. Copy this folder to
# egs/<yourcorpus>/ (or anywhere: ./run.sh --recipe path/to/folder), adapt this file and prepare.py, then
# run ./run.sh --recipe <yourcorpus>. A conf sets only what differs from the defaults; every setting, its
# default and its stage are in the README ("Settings"). Sourced by run.sh after option parsing: $dl_dir,
# $data_dir, $exp_dir and $recipe_dir (this folder) are set.
#
# The corpus this template reads (one folder per part, a layout many in-house corpora use):
#   $dl_dir/mycorpus/<part>/metadata.csv    lines "utterance_id|speaker|transcript"
#   $dl_dir/mycorpus/<part>/wavs/<utterance_id>.wav   (any sample rate, any format libsndfile reads)

corpus_source=manual             # put (or symlink) the corpus at $mycorpus_dir yourself
corpora="mycorpus"
mycorpus_dir=$dl_dir/mycorpus
mycorpus_parts="train dev test"
# The one function a new corpus needs, with the signature of lhotse's prepare_* functions (see prepare.py):
# "file.py:function", "package.module:function", or one of lhotse's own recipes, "lhotse:prepare_<corpus>"
# (lhotse.recipes has about a hundred; per-part ones take dataset_parts, single-set ones are split below).
mycorpus_prepare=$recipe_dir/prepare.py:prepare_mycorpus
# A flat corpus (no part folders; LJSpeech, VCTK, most in-house corpora) is divided by a rule instead, and
# <corpus>_parts then names the parts it makes ("train dev test"). Held-out test speakers make stage 7
# zero-shot; a single-speaker corpus holds out utterances (valle/corpus/split.py):
#   mycorpus_split="test_speakers=4 dev_every=50"       # or test_speakers=p225,p226 / test_every=100 /
#                                                       # test_fraction=0.02 / dev_speakers=... / dev_fraction=...
# A corpus without speaker ids: all one speaker (default, a single reader), or each utterance its own:
#   mycorpus_unknown_speaker=utterance

labeled_train_parts="train"
unlabeled_parts=""
dev_parts="dev"
test_parts="test"

# Stage 2 (lang): CMUdict's ARPAbet with espeak-ng G2P for other words. Readers who say "four hundred AND
# fifty two" (British English): text_locale=en-gb. An espeak-ng phone inventory instead: phone_set=ipa.

# Stages 5-6 (training): the small model and its schedule, for a corpus of 10-100 h (the file says when to
# change them). Sourced from the repository root, where run.sh reads every conf.
. egs/template/small_corpus.sh

# Stage 7 (synthesis + evaluation) on the test part: targets of 4-10 s with a 3 s prompt from another
# utterance of the same speaker (the paper's protocol). A corpus of short clips: lower test_min_duration (and
# test_prompt_seconds); a big test part: cap the targets, it is generated one by one.
test_max_per_speaker=20

# Jobs of stages 3-4 (Kaldi's cmd.sh; --cmd on run.sh overrides it): utils/run.pl here, or on Slurm
#   cmd="utils/slurm.pl --mem 2G --time 4:00:00"
