# Environment for the recipe: sourced by run.sh and tests/run.sh (never edits your shell profile).
# utils/setup_env.sh creates the virtualenv this activates.
VALLE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export VALLE_ROOT
VALLE_VENV=${VALLE_VENV:-$VALLE_ROOT/.venv}
if [ ! -f "$VALLE_VENV/bin/activate" ]; then
  echo "path.sh: no virtualenv at $VALLE_VENV; run utils/setup_env.sh" >&2
  return 1
fi
# shellcheck disable=SC1091
. "$VALLE_VENV/bin/activate"
export PYTHONPATH=$VALLE_ROOT${PYTHONPATH:+:$PYTHONPATH}
export LC_ALL=C
export PYTHONUNBUFFERED=1
