#!/bin/sh
# The image's entry point: its arguments are `python -m`'s, a stage and its options
# (pipelines run, training train, serving --host 0.0.0.0, monitoring replay, ...).
# An empty LARDER_* variable counts as unset (compose.yaml passes `${NAME:-}` through), and
# LARDER_AS_OF=watermark serves as of the data's watermark, as `make serve` does.
set -eu
for name in $(env | sed -n 's/^\(LARDER_[A-Za-z0-9_]*\)=$/\1/p'); do
  unset "$name"
done
if [ "${LARDER_AS_OF:-}" = watermark ]; then
  mark="${LARDER_FEATURE_REPO:?}/data/offline/_watermark.json"
  if [ ! -f "$mark" ]; then
    echo "larder: LARDER_AS_OF=watermark, but no $mark yet (run the pipeline first)" >&2
    exit 2
  fi
  LARDER_AS_OF=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["as_of"])' "$mark")
  export LARDER_AS_OF
fi
if [ $# = 0 ]; then
  echo "usage: IMAGE pipelines|training|serving|monitoring ARGS... (python -m's arguments)" >&2
  exit 2
fi
exec python -m "$@"
