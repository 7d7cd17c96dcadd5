# Option parsing for recipe scripts, in the spirit of Kaldi's utils/parse_options.sh.
# Source it after declaring every option as a shell variable with its default and listing
# it in `option_docs` ("name|description", name with underscores):
#
#   stage=0
#   option_docs=("stage|first stage to run")
#   usage="Usage: $0 [options]"
#   . utils/parse_options.sh
#
# Accepted forms: --name value, --name=value; `--flag` alone for options whose default is
# true/false. Dashes in names map to underscores (--stop-stage sets stop_stage). An option
# that is not declared is rejected, so a typo never silently falls back to a default.
# --help prints `usage`, then every option with its current default and description.

_po_names=()
for _po_doc in "${option_docs[@]}"; do
  _po_names+=("${_po_doc%%|*}")
done

_po_is_option() {
  local n
  for n in "${_po_names[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}

_po_help() {
  echo "${usage:-Usage: $0 [options]}"
  echo
  echo "Options (default in brackets):"
  local doc name desc flag
  for doc in "${option_docs[@]}"; do
    name=${doc%%|*}; desc=${doc#*|}
    flag="--${name//_/-}"
    printf '  %-22s %s [%s]\n' "$flag" "$desc" "${!name}"
  done
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) _po_help; exit 0 ;;
    --*=*) _po_key=${1%%=*}; _po_val=${1#*=}; _po_has_val=1; shift ;;
    --*) _po_key=$1; _po_has_val=0; shift ;;
    *) break ;;
  esac
  _po_name=${_po_key#--}; _po_name=${_po_name//-/_}
  if ! _po_is_option "$_po_name"; then
    echo "$0: invalid option $_po_key (see $0 --help)" >&2
    exit 1
  fi
  if [ $_po_has_val -eq 0 ]; then
    case "${!_po_name}" in
      true|false)  # boolean: the value is optional
        if [ $# -gt 0 ] && { [ "$1" = true ] || [ "$1" = false ]; }; then
          _po_val=$1; shift
        else
          _po_val=true
        fi ;;
      *)
        if [ $# -eq 0 ]; then
          echo "$0: option $_po_key needs a value" >&2
          exit 1
        fi
        _po_val=$1; shift ;;
    esac
  fi
  case "${!_po_name}" in
    true|false)
      if [ "$_po_val" != true ] && [ "$_po_val" != false ]; then
        echo "$0: option $_po_key takes true or false, got '$_po_val'" >&2
        exit 1
      fi ;;
  esac
  printf -v "$_po_name" '%s' "$_po_val"
done
unset _po_doc _po_key _po_val _po_has_val _po_name
