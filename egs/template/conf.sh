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

# Stage 2 (lang): CMUdict phones (as Kaldi's LibriSpeech recipe); espeak-ng G2P for words it lacks.
phone_set=arpabet
g2p_languages="en-us"
bpe_vocab_size=500

# Stage 7 (synthesis + evaluation) takes the test part's utterances of test_min_duration..test_max_duration
# seconds (default 4-10, as the paper); see egs/librispeech/conf.sh for every stage-7 setting.
test_min_duration=4
test_max_duration=10
