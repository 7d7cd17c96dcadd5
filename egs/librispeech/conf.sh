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
