#!/usr/bin/env bash
# Creates (or reuses) the recipe's virtualenv and the system packages it needs. Idempotent, and
# quick when nothing changed: pip runs only when requirements.txt differs from the last install.
#
#   utils/setup_env.sh          # called by run.sh and tests/run.sh; safe to run by hand
#
# Environment: VALLE_VENV (default <repo>/.venv), PYTHON (default python3).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VALLE_VENV:-$root/.venv}
python=${PYTHON:-python3}

say() { echo "$(date '+%Y-%m-%d %H:%M:%S') (setup_env.sh) $*" >&2; }

# --- system packages: espeak-ng synthesizes the mini corpus and is phonemizer's backend.
# grep reads all of ldconfig's output (no -q): with pipefail, grep -q quitting early can kill ldconfig with
# SIGPIPE and fail the check at random (seen in CI-like runs: "espeak-ng still not usable after installing it").
have_espeak() { command -v espeak-ng >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep 'libespeak-ng\.so\.1' >/dev/null; }
if ! have_espeak; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing espeak-ng with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq espeak-ng libespeak-ng1 >&2
  else
    say "ERROR: espeak-ng (with libespeak-ng.so.1) is required and missing."
    say "       Install it as root, e.g. 'sudo apt-get install espeak-ng' (Debian/Ubuntu),"
    say "       'dnf install espeak-ng' (Fedora) or 'brew install espeak-ng' (macOS), then rerun."
    exit 1
  fi
  have_espeak || { say "ERROR: espeak-ng still not usable after installing it"; exit 1; }
fi

# --- the virtualenv. A lock keeps a concurrent run.sh and tests/run.sh from racing on it.
exec 9>"$root/.setup_env.lock"
flock 9

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 9), sys.version' 2>/dev/null \
    || { say "ERROR: $python must be Python >= 3.9"; exit 1; }
  say "creating virtualenv $venv"
  "$python" -m venv "$venv"
fi

stamp="$venv/.valle-requirements.sha256"
want=$(cat "$root/requirements.txt" "$0" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing requirements into $venv (first run takes a minute or two)"
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
  # torch first and pinned: 2.13.0 resolves to the local CPU wheel where one is provided and to
  # the normal build elsewhere; an open range would pull gigabytes of CUDA packages instead.
  "${pip[@]}" "torch==2.13.0" >&2
  "${pip[@]}" -r "$root/requirements.txt" >&2
  # encodec declares torchaudio as a dependency; PyPI's torchaudio is a CUDA build that fails to load
  # against CPU torch and, once installed, breaks lhotse's audio loading. encodec uses it only for
  # helpers we do not call (see valle/codec/encodec.py), so it is installed without dependencies.
  "${pip[@]}" --no-deps "encodec==0.1.1" >&2
  # Stage 7's pretrained models, from the wheels that carry them: PocketSphinx's en-us ASR (it declares
  # sounddevice, for microphones only) and Resemblyzer's speaker encoder weights (it declares librosa and numba,
  # which valle/eval/speaker.py does without).
  "${pip[@]}" --no-deps "pocketsphinx==5.1.1" "resemblyzer==0.1.4" >&2
  echo "$want" > "$stamp"
  say "virtualenv ready"
fi
