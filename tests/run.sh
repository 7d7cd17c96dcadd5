#!/usr/bin/env bash
# The test command (README, CI): creates/reuses the virtualenv like run.sh does, then runs pytest.
# Extra arguments go to pytest, e.g. tests/run.sh -m "not slow" -k manifests
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/utils/setup_env.sh"
. "$root/path.sh"
cd "$root"
exec python -m pytest "$@"
