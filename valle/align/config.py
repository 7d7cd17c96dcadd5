"""Stage-3 settings (hybrid DNN-HMM alignment): the one home of their defaults.

Conf names: ``gmm_*`` for the monophone GMM-HMM, ``dnn_*`` for the DNN acoustic model, ``align_*`` for the
alignment and decoding itself. Fields without help are internal constants (Kaldi's values), kept here
so that each lives once.
"""
from dataclasses import dataclass
from typing import Tuple

from valle.utils.settings import nested, setting


@dataclass
class GmmConfig:
    num_iters: int = setting(16, "EM iterations of the monophone GMM-HMM (Kaldi's train_mono.sh: 40)")
    total_gauss: int = setting(500, "Gaussians at the end of training (1000 measured worse on mini and 2x slower)")
    realign_iters: Tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 14)
    max_iter_inc: int = 12           # the number of Gaussians grows until this iteration
    acoustic_scale: float = 0.1
    self_loop_scale: float = 0.1
    var_floor_factor: float = 0.01

    def __post_init__(self):
        # Fewer iterations: realign and split within them (Kaldi's train_mono.sh keeps max_iter_inc < num_iters).
        self.realign_iters = tuple(i for i in self.realign_iters if i < self.num_iters)
        self.max_iter_inc = min(self.max_iter_inc, max(1, self.num_iters - 4))


@dataclass
class DnnConfig:
    feat_dim: int = 40
    hidden: int = 256
    num_layers: int = 5
    subsampling: int = setting(3, "output frame shift in 10 ms input frames (3: the paper's 30 ms)")
    dropout: float = 0.1
    epochs: int = setting(8, "training epochs of the DNN on the GMM's state alignments")
    lr: float = 2e-3
    batch_frames: int = 12000       # input frames per batch
    chunk_frames: int = 300         # training chunks of 3 s (random offsets)
    seed: int = 0


@dataclass
class AlignConfig:
    gmm: GmmConfig = nested(GmmConfig)
    dnn: DnnConfig = nested(DnnConfig)
    dnn_frame_shift_ms: int = setting(10, "alignment frame shift: 10 = the DNN at every input phase through the "
                                          "GMM's 3-state graphs; 30 = its own output rate with one-state phone "
                                          "HMMs (the paper's)", choices=(10, 30), name="dnn_frame_shift")
    dnn_acoustic_scale: float = 1.0  # at 30 ms
    dnn_acoustic_scale_10ms: float = 0.3
    dnn_self_loop_scale: float = 1.0
    decode_acoustic_scale: float = setting(0.5, "acoustic scale of the unlabeled parts' decoding (word or phone; "
                                                "0.4-0.5 were best for words on mini)",
                                           name="align_decode_acoustic_scale")
    decode_beam: float = 13.0
    # Word decoding on mini: beam 10 decoded twice as fast as 13 (99 against 48 x real time per core) at the same
    # phone error rate (13.6 %) and 0.2 % more word errors.
    word_decode_beam: float = 10.0
    bigram_add_k: float = 0.1
    unlabeled_decode: str = setting("word", "how unlabeled parts are decoded: word = HCLG with the lexicon and a word "
                                            "n-gram (the paper's hybrid ASR), phone = a phone loop with a phone bigram",
                                    choices=("word", "phone"), name="unlabeled_decode")
    lm: str = setting("", "an ARPA word n-gram (.arpa or .arpa.gz) to decode unlabeled parts with (egs/librispeech: "
                          "openslr 11's 3-gram.pruned.1e-7, Kaldi's tgmed); n-grams with words outside words.txt are "
                          "left out, as Kaldi's arpa2fst does. Empty: one estimated from the training transcripts",
                      name="align_lm")
    lm_order: int = setting(3, "order of the word n-gram estimated from the training transcripts", name="align_lm_order")
    lm_method: str = setting("kneser-ney", "its smoothing (interpolated)", choices=("kneser-ney", "witten-bell"),
                             name="align_lm_method")
    beam: float = setting(10.0, "forced-alignment beam (Kaldi's)", name="align_beam")
    retry_beam: float = setting(40.0, "retry beam when the first finds no path (Kaldi's)", name="align_retry_beam")
    last_retry_factor: float = 10.0  # a last resort, retry beam x this, for a weak model on a small corpus
    max_train_utts: int = setting(10000, "utterances of the training parts that train the GMM and the DNN: a "
                                         "random subset, the same for any --nj (Kaldi's subset_data_dir.sh); "
                                         "their features are held in memory, about 0.4 MB per utterance",
                                  name="align_max_train_utts")
    # Caught before they become training data (listed in ali/flagged_<part>.tsv with the measured values):
    min_speech_per_phone: float = setting(0.03, "flag an utterance with less energy-VAD speech than this many seconds "
                                                "per aligned phone (silence or far too little speech for its "
                                                "transcript; real speech has 0.06-0.1 s per phone)",
                                          name="align_min_speech_per_phone")
    outlier_z: float = setting(5.0, "flag a forced alignment whose score (how far its states are from the "
                                    "best ones, per frame) is this many robust standard deviations below its "
                                    "part's median (a transcript that is not what was said); 0 turns it off",
                               name="align_outlier_z")
    outlier_gap: float = setting(0.2, "and at least this far below the median (score units: scaled log-likelihood "
                                      "per frame; on mini, good utterances were within 0.11 of it, swapped "
                                      "transcripts 0.37-0.44 below): a tight part flags no good utterance",
                                 name="align_outlier_gap")
    outlier_min_utts: int = 20       # fewer aligned utterances in a part: too few for a median and MAD
    max_graph_cost: float = setting(15.0, "flag a word-decoded segment whose graph cost (LM + silence + transitions) "
                                          "per word is above this (on mini: real speech 3.6-11.5; white noise "
                                          "decoded as one word 24); 0 turns it off",
                                    name="align_max_graph_cost")
    num_inspect: int = setting(3, "utterances per part written as TextGrid + PNG", name="align_num_inspect")
    engine: str = setting("auto", "FSA engine: auto (k2 when it imports, else Kaldi's decoders), kaldi, k2",
                          choices=("auto", "kaldi", "k2"), name="align_engine")

    @property
    def beams(self) -> Tuple[float, float]:
        return self.beam, self.retry_beam

    @property
    def dnn_beams(self) -> Tuple[float, float, float]:
        """DNN-HMM forced alignment: Kaldi's beam and retry beam, then a last resort wide enough for a weak
        model (small corpora)."""
        return self.beam, self.retry_beam, self.retry_beam * self.last_retry_factor
