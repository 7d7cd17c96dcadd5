# Shell helpers shared by run.sh and the stage scripts: logging, input checks, .done markers.

log() {
  # Timestamped log line naming the calling script and line, as in icefall's prepare.sh.
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

die() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') ERROR: $*" >&2
  exit 1
}

# require_path PATH STAGE WHAT: fail with the stage that produces PATH when it is missing.
require_path() {
  local path=$1 from_stage=$2 what=$3
  if [ ! -e "$path" ]; then
    die "expected $what at $path; it is made by stage $from_stage (run: $0 --recipe $recipe --stage $from_stage --stop-stage $from_stage)"
  fi
}

# stage_done MARKER: true when the stage owning MARKER finished earlier and --force is not set.
# With --force the marker is removed first, so an interrupted redo is never taken as done.
stage_done() {
  local marker=$1
  if [ "$force" = true ]; then
    rm -f "$marker"
    return 1
  fi
  [ -f "$marker" ]
}

# mark_done MARKER: written last, after every output of the stage is complete.
mark_done() {
  local marker=$1
  mkdir -p "$(dirname "$marker")"
  if ! date '+%Y-%m-%d %H:%M:%S' > "$marker.tmp" 2>/dev/null || ! mv "$marker.tmp" "$marker"; then
    log "warning: could not write $marker (read-only?); this stage will run again next time"
  fi
}
