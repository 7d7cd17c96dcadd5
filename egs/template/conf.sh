# egs/template: start here to run the recipe on a corpus of your own. Copy this folder to
# egs/<yourcorpus>/, adapt this file and prepare.py, then run ./run.sh --recipe <yourcorpus>.
#
# The corpus this template reads (one folder per part, a layout many in-house corpora use):
#   $dl_dir/mycorpus/<part>/metadata.csv    lines "utterance_id|speaker|transcript"
#   $dl_dir/mycorpus/<part>/wavs/<utterance_id>.wav   (any sample rate, any format libsndfile reads)
# Sourced by run.sh after option parsing: $dl_dir, $data_dir and $exp_dir are set.

corpus_source=manual             # put (or symlink) the corpus at $mycorpus_dir yourself
corpora="mycorpus"
mycorpus_dir=$dl_dir/mycorpus
mycorpus_parts="train dev test"
# The one function a new corpus needs: "file.py:function" or "package.module:function", with the
# signature of lhotse's prepare_* functions. See egs/template/prepare.py.
mycorpus_prepare=egs/template/prepare.py:prepare_mycorpus

labeled_train_parts="train"
unlabeled_parts=""
dev_parts="dev"
test_parts="test"

# Everything else has a default (the paper's; README, "Settings", lists them all, with their stage):
# set here only what differs, e.g.
#   phone_set=ipa                 # stage 2: espeak-ng phonemes instead of CMUdict's ARPAbet
#   test_min_duration=2           # stage 7: shortest test utterance (default 4 s, as the paper)

# Jobs of stages 3-4 (Kaldi's cmd.sh; --cmd on run.sh overrides it): utils/run.pl here, or on Slurm
#   cmd="utils/slurm.pl --mem 2G --time 4:00:00"
