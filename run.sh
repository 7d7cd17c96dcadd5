#!/usr/bin/env bash
# VALL-E recipe (arXiv 2301.02111), Kaldi/icefall style: each stage reads the previous stage's
# artifacts from disk and writes its own, so any stage can be rerun alone.
#
#   ./run.sh                                    # the mini recipe, end to end
#   ./run.sh --recipe librispeech --stage 0 --stop-stage 1 --nj 16
#
# Stages: 0 download/synthesize corpora, 1 lhotse manifests, 2 lang, 3 hybrid DNN-HMM phone
# alignment, 4 EnCodec tokens, 5 AR training, 6 NAR training, 7 synthesis + evaluation.
# Artifacts: data/<recipe>/{download,manifests,lang,aligned,tokens,tts}, exp/<recipe>/{align,ar,nar,synth,log}.
set -euo pipefail

recipe=mini
stage=0
stop_stage=7
nj=2
force=false
dl_dir=""
data_dir=""
exp_dir=""
conf=""
cmd=""
codec_checkpoint=""
option_docs=(
  "recipe|recipe under egs/ (mini, librispeech, libritts, ljspeech, vctk, template, or your own), or the path of a recipe folder elsewhere (one holding a conf.sh)"
  "stage|first stage to run (0-7)"
  "stop_stage|last stage to run (0-7)"
  "nj|number of parallel jobs: the pieces stages 3-4 split the data into, one job each"
  "cmd|how jobs run (Kaldi's cmd.sh): utils/run.pl on this machine, or utils/slurm.pl [--mem 4G --time 4:00:00 ...] on a Slurm cluster (empty: the conf's cmd, else utils/run.pl)"
  "force|redo stages that are already done (their .done markers are ignored)"
  "dl_dir|corpus directory (empty: data/<recipe>/download); point it at data you already have"
  "data_dir|data artifacts (empty: data/<recipe>)"
  "exp_dir|experiment artifacts and logs (empty: exp/<recipe>)"
  "codec_checkpoint|real EnCodec 24 kHz weights (empty: torch hub cache, download, else a corpus-fitted random codec)"
  "conf|extra conf file sourced after egs/<recipe>/conf.sh, overriding its settings (e.g. fewer parts)"
)
usage="Usage: $0 [options]
Runs stages --stage..--stop-stage of the VALL-E recipe egs/<recipe>.
Stages: 0 corpora, 1 manifests, 2 lang, 3 alignment, 4 EnCodec tokens, 5 AR, 6 NAR, 7 synthesis."

root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$root/utils/parse_options.sh"
. "$root/utils/lib.sh"

[ $# -eq 0 ] || die "unexpected argument '$1' (options start with --; see $0 --help)"
for n in stage stop_stage nj; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "--${n//_/-} must be a non-negative integer, got '${!n}'"
done
[ "$nj" -ge 1 ] || die "--nj must be at least 1"
[ "$stage" -le "$stop_stage" ] || die "--stage $stage is after --stop-stage $stop_stage"

# User paths are relative to where run.sh was called from; then work from the repo root.
abspath() { case $1 in /*|"") echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
dl_dir=$(abspath "$dl_dir"); data_dir=$(abspath "$data_dir"); exp_dir=$(abspath "$exp_dir"); conf=$(abspath "$conf")
codec_checkpoint=$(abspath "$codec_checkpoint")
# A recipe is a folder with a conf.sh: egs/<name>, or a path (a recipe kept outside this repository). Its confs
# see it as $recipe_dir, so that a copied recipe names its own files (e.g. prepare.py) without editing.
case $recipe in
  */*) recipe_dir=$(abspath "$recipe"); recipe=$(basename "$recipe_dir") ;;
  *) recipe_dir=$root/egs/$recipe ;;
esac
cd "$root"
data_dir=${data_dir:-data/$recipe}
exp_dir=${exp_dir:-exp/$recipe}
dl_dir=${dl_dir:-$data_dir/download}

[ -f "$recipe_dir/conf.sh" ] || die "no recipe '$recipe': expected $recipe_dir/conf.sh (have under egs/: $(ls egs | tr '\n' ' '))"
[ -z "$conf" ] || [ -f "$conf" ] || die "--conf $conf: no such file"
# The conf's settings: every variable the conf files define. Those of a stage are passed to it by name
# (python -m valle.conf); a stage gets nothing else, so each default lives once, in the dataclass that uses it.
cmd_arg=$cmd
unset cmd
vars_before=$(compgen -v)
. "$recipe_dir/conf.sh"
[ -z "$conf" ] || . "$conf"
conf_names=$(comm -13 <(echo "$vars_before" | sort) <(compgen -v | sort) | { grep -vx vars_before || true; })
conf_pairs=()
for n in $conf_names; do conf_pairs+=("$n=${!n}"); done
unset vars_before conf_names

# What run.sh reads itself from the conf (the recipe's layout: valle/conf.py RECIPE_NAMES); the rest is the stages'.
for n in corpus_source corpora labeled_train_parts dev_parts test_parts; do
  [ -n "${!n+set}" ] || die "$recipe_dir/conf.sh${conf:+ + $conf}: '$n' is not set (see egs/template/conf.sh)"
done
unlabeled_parts=${unlabeled_parts-}
lm_files=${lm_files-}         # openslr 11 files stage 0 fetches into $lm_dir (egs/librispeech)
lm_dir=${lm_dir:-$dl_dir/lm}
lm_base_url=${lm_base_url-}   # a mirror of openslr 11 (empty: www.openslr.org)
tts_train_parts=${tts_train_parts:-$labeled_train_parts $unlabeled_parts}  # the paper: LibriLight only
train_nproc=${train_nproc:-1}
cmd=${cmd_arg:-${cmd:-utils/run.pl}}   # --cmd wins over the conf
case ${cmd%% *} in
  utils/run.pl|utils/slurm.pl|*/run.pl|*/slurm.pl|*/queue.pl) ;;
  *) die "cmd='$cmd': expected utils/run.pl or utils/slurm.pl [options] (Kaldi's launchers)" ;;
esac

utils/setup_env.sh
. ./path.sh

python -m valle.conf check "${conf_pairs[@]}" \
  || die "$recipe_dir/conf.sh${conf:+ + $conf}: fix the settings above (every setting: README, 'Settings')"
# stage_opts GROUP [MODEL]: the conf's settings of GROUP as options of its stage script, in $opts.
stage_opts() {
  local f
  f=$(mktemp)
  python -m valle.conf options ${2:+--model "$2"} "$1" "${conf_pairs[@]}" > "$f" \
    || { rm -f "$f"; die "could not turn the conf into options of stage group '$1'"; }
  mapfile -d '' opts < "$f"
  rm -f "$f"
}

mkdir -p "$exp_dir/log"
log "recipe=$recipe stages $stage..$stop_stage nj=$nj cmd=$cmd force=$force"
log "dl_dir=$dl_dir data_dir=$data_dir exp_dir=$exp_dir"
log "conf ($recipe_dir/conf.sh${conf:+ + $conf}): ${conf_pairs[*]}"

# corpus_var CORPUS FIELD: value of ${CORPUS}_${FIELD} from conf.sh (empty when unset).
corpus_var() { local v="${1}_${2}"; echo "${!v:-}"; }

run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

# The .done marker of each stage, in the folder holding its outputs; stage 0's in the data dir, not in the
# corpus folder, which several recipes may share (each checks or fetches its own parts).
markers=("$data_dir/.corpora.done" "$data_dir/manifests/.done" "$data_dir/lang/.done" "$data_dir/aligned/.done"
         "$data_dir/tokens/.done" "$exp_dir/ar/.done" "$exp_dir/nar/.done" "$exp_dir/synth/.done")
# Stage 0's marker used to be $dl_dir/.done: a data dir made then keeps its finished stage 0.
if [ "$dl_dir" = "$data_dir/download" ] && [ -f "$dl_dir/.done" ] && [ ! -f "${markers[0]}" ]; then
  mv "$dl_dir/.done" "${markers[0]}"
fi

# The training data (shards) both stage 5 and stage 6 read: built by whichever runs first.
tts_marker=$data_dir/tts/.done
# stage_needed N: true when stage N must run (no .done, or --force); it then invalidates later stages.
stage_needed() {
  if stage_done "${markers[$1]}"; then
    log "Stage $1 already done (${markers[$1]}); --force redoes it"
    return 1
  fi
  invalidate_after "$1"
}
# A stage that runs changes the inputs of every later stage: their results are no longer current.
invalidate_after() {
  local n
  if [ "$1" -lt 5 ] && [ -f "$tts_marker" ]; then
    log "stage $1 ran again: the training data must be rebuilt (removing $tts_marker)"
    rm -f "$tts_marker"
  fi
  for ((n = $1 + 1; n < ${#markers[@]}; n++)); do
    if [ -f "${markers[$n]}" ]; then
      log "stage $1 ran again: stage $n must be redone too (removing ${markers[$n]})"
      rm -f "${markers[$n]}"
    fi
  done
}

if run_stage 0; then
  log "Stage 0: corpora ($corpora) into $dl_dir"
  if stage_needed 0; then
    case $corpus_source in
      synthesize)
        stage_opts mini
        python local/make_mini_corpus.py --out-dir "$dl_dir" --nj "$nj" "${opts[@]}" \
          --log-file "$exp_dir/log/stage0_corpus.log"
        ;;
      download|manual)
        for c in $corpora; do
          python local/download_corpus.py --corpus "$c" --corpus-dir "$(corpus_var "$c" dir)" \
            --parts "$(corpus_var "$c" parts)" --split "$(corpus_var "$c" split)" --method "$corpus_source" \
            --log-file "$exp_dir/log/stage0_download_$c.log"
        done
        if [ -n "$lm_files" ]; then
          python local/download_lm.py --lm-dir "$lm_dir" --files "$lm_files" --method "$corpus_source" \
            ${lm_base_url:+--base-url "$lm_base_url"} --log-file "$exp_dir/log/stage0_download_lm.log"
        fi
        ;;
      *) die "$recipe_dir/conf.sh: corpus_source must be synthesize, download or manual, got '$corpus_source'" ;;
    esac
    mark_done "${markers[0]}"
  fi
fi

if run_stage 1; then
  log "Stage 1: lhotse manifests into $data_dir/manifests"
  if stage_needed 1; then
    for c in $corpora; do
      require_path "$(corpus_var "$c" dir)" 0 "the $c corpus"
    done
    for c in $corpora; do
      prepare_fn=$(corpus_var "$c" prepare)
      unknown_speaker=$(corpus_var "$c" unknown_speaker)
      python local/prepare_manifests.py --corpus "$c" --corpus-dir "$(corpus_var "$c" dir)" \
        --parts "$(corpus_var "$c" parts)" ${prepare_fn:+--prepare-fn "$prepare_fn"} \
        --split "$(corpus_var "$c" split)" ${unknown_speaker:+--unknown-speaker "$unknown_speaker"} \
        --output-dir "$data_dir/manifests" --nj "$nj" --log-file "$exp_dir/log/stage1_manifests_$c.log"
    done
    python local/summarize_manifests.py --manifest-dir "$data_dir/manifests" \
      --output "$data_dir/manifests/summary.txt"
    mark_done "${markers[1]}"
  fi
fi

if run_stage 2; then
  log "Stage 2: lang directory (lexicon, phone table, BPE over phones) into $data_dir/lang"
  require_path "${markers[1]}" 1 "finished manifests"
  if stage_needed 2; then
    stage_opts lang
    # shellcheck disable=SC2086  # part lists are word lists
    python local/prepare_lang.py --manifest-dir "$data_dir/manifests" --lang-dir "$data_dir/lang" \
      --parts $labeled_train_parts $dev_parts $test_parts --bpe-parts $labeled_train_parts "${opts[@]}" \
      --log-file "$exp_dir/log/stage2_lang.log"
    mark_done "${markers[2]}"
  fi
fi
if run_stage 3; then
  log "Stage 3: hybrid DNN-HMM phone alignment into $data_dir/aligned (models under $exp_dir/align), $nj jobs"
  require_path "${markers[2]}" 2 "the lang directory"
  require_path "${markers[1]}" 1 "finished manifests"
  if stage_needed 3; then
    # Its steps and jobs resume (a rerun redoes only what has no completion marker); --force starts over.
    [ "$force" = true ] && rm -rf "$exp_dir/align"
    stage_opts align
    # shellcheck disable=SC2086
    align=(python local/align.py --lang-dir "$data_dir/lang" --manifest-dir "$data_dir/manifests"
           --exp-dir "$exp_dir/align" --aligned-dir "$data_dir/aligned" --train-parts $labeled_train_parts
           --labeled-parts $dev_parts $test_parts --unlabeled-parts $unlabeled_parts --nj "$nj" "${opts[@]}")
    log "stage 3: split into $nj pieces, features, GMM + DNN training, alignment; logs: $exp_dir/log/stage3_*.log"
    # shellcheck disable=SC2086  # $cmd is a command line (Kaldi's convention)
    $cmd "$exp_dir/log/stage3_split.log" "${align[@]}" --step split
    $cmd JOB=1:"$nj" "$exp_dir/log/stage3_features.JOB.log" "${align[@]}" --step features --job JOB
    $cmd "$exp_dir/log/stage3_train.log" "${align[@]}" --step train
    $cmd JOB=1:"$nj" "$exp_dir/log/stage3_align.JOB.log" "${align[@]}" --step align --job JOB
    "${align[@]}" --step combine --log-file "$exp_dir/log/stage3_combine.log"
    mark_done "${markers[3]}"
  fi
fi
if run_stage 4; then
  log "Stage 4: codec tokens into $data_dir/tokens, $nj jobs"
  require_path "${markers[1]}" 1 "finished manifests"
  if stage_needed 4; then
    tokens=$data_dir/tokens
    [ "$force" = true ] && rm -rf "$tokens"  # shards are resumable; --force starts over
    fit_cuts=()
    for p in $labeled_train_parts; do fit_cuts+=("$data_dir/manifests/cuts_$p.jsonl.gz"); done
    stage_opts codec
    # shellcheck disable=SC2086
    $cmd "$exp_dir/log/stage4_codec.log" python local/prepare_codec.py --out "$tokens/codec.pt" \
      --codec-checkpoint "$codec_checkpoint" --fit-cuts "${fit_cuts[@]}" --threads "$nj" "${opts[@]}"
    # The job's log is not the console: repeat its warning about random weights here, where it is seen.
    grep -B1 -A5 "NO REAL ENCODEC WEIGHTS" "$exp_dir/log/stage4_codec.log" | grep "^#" >&2 || true
    stage_opts tokenize
    # shellcheck disable=SC2086
    codes=(python local/extract_codes.py --manifest-dir "$data_dir/manifests" --codec "$tokens/codec.pt"
           --parts $labeled_train_parts $unlabeled_parts $dev_parts $test_parts --out-dir "$tokens" --nj "$nj" "${opts[@]}")
    # shellcheck disable=SC2086
    $cmd JOB=1:"$nj" "$exp_dir/log/stage4_codes.JOB.log" "${codes[@]}" --job JOB
    "${codes[@]}" --step combine --log-file "$exp_dir/log/stage4_combine.log"
    mark_done "${markers[4]}"
  fi
fi
# prepare_tts_data STAGE: the training data of stages 5-6 (stage 3's alignments + stage 4's codes, LibriLight
# segments joined, globally shuffled shards), built once; --force at stage 5 rebuilds it.
prepare_tts_data() {
  if [ -f "$tts_marker" ] && ! { [ "$force" = true ] && [ "$1" = 5 ]; }; then
    log "training data already built ($tts_marker)"
    return
  fi
  rm -f "$tts_marker"
  stage_opts tts_data
  # shellcheck disable=SC2086
  python local/prepare_tts_data.py --aligned-dir "$data_dir/aligned" --tokens-dir "$data_dir/tokens" \
    --train-parts $tts_train_parts --valid-parts $dev_parts --out-dir "$data_dir/tts" "${opts[@]}" \
    --log-file "$exp_dir/log/stage${1}_tts_data.log"
  mark_done "$tts_marker"
}
# train_model ar|nar STAGE: stage 5 or 6. Several processes (train_nproc > 1: GPUs, or CPU ranks on
# gloo) go through torchrun; multi-node: run local/train.py under torchrun yourself (see its --help).
train_model() {
  local model=$1 launcher=(python)
  if [ "$train_nproc" -gt 1 ]; then
    launcher=(torchrun --standalone --nproc-per-node "$train_nproc")
  fi
  stage_opts train "$model"
  "${launcher[@]}" local/train.py --model "$model" --exp-dir "$exp_dir/$model" --lang-dir "$data_dir/lang" \
    --tts-dir "$data_dir/tts" "${opts[@]}" --log-file "$exp_dir/log/stage${2}_train_$model.log"
}
for n in 5 6; do
  if run_stage $n; then
    model=$([ $n = 5 ] && echo ar || echo nar)
    log "Stage $n: ${model^^} model training into $exp_dir/$model"
    require_path "${markers[4]}" 4 "EnCodec tokens"
    require_path "${markers[3]}" 3 "phone alignments"
    if stage_needed $n; then
      prepare_tts_data $n
      # A rerun resumes from the newest checkpoint under $exp_dir/$model; --force starts over.
      [ "$force" = true ] && rm -rf "${exp_dir:?}/$model"
      train_model $model $n
      mark_done "${markers[$n]}"
    fi
  fi
done
if run_stage 7; then
  log "Stage 7: synthesis of the test speakers (cross-utterance and continuation prompts) + evaluation into $exp_dir/synth"
  require_path "${markers[6]}" 6 "a trained NAR model"
  require_path "${markers[5]}" 5 "a trained AR model"
  require_path "${markers[4]}" 4 "the codec"
  require_path "${markers[3]}" 3 "test-speaker alignments and the stage-3 phone recognizer"
  if stage_needed 7; then
    rm -rf "${exp_dir:?}/synth"
    stage_opts eval
    # shellcheck disable=SC2086
    python local/evaluate_tts.py --exp-dir "$exp_dir" --data-dir "$data_dir" --out-dir "$exp_dir/synth" \
      --test-parts $test_parts --bigram-parts $labeled_train_parts "${opts[@]}" \
      --log-file "$exp_dir/log/stage7_synth_eval.log"
    mark_done "${markers[7]}"
  fi
fi

log "Done: stages $stage..$stop_stage of recipe $recipe"
