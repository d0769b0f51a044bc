#!/usr/bin/env bash
# The hub of an earlier commit against this tree's, in alternating runs of bench/load.py (figures,
# not a test). On a shared machine the CPU per operation drifts by 2x from one minute to the next
# (other processes on the same cores); a change is only seen against its base measured in turns.
#
#   bench/compare.sh REV [RUNS] [load.py options…]     e.g. bench/compare.sh main 2 --rounds 2 --only submit,cycle
#
# REV is exported (git archive) into a temporary folder and run from there: `python -m` imports the
# hub from the working directory, so each side runs its own code with this tree's virtualenv and
# this tree's bench/load.py. Each run's output lands in $OUT (default /tmp/careplan-compare).
set -euo pipefail
rev=${1:?usage: bench/compare.sh REV [RUNS] [load.py options…]}
runs=${2:-2}
shift $(($# >= 2 ? 2 : 1))
here=$(cd "$(dirname "$0")/.." && pwd)
python=$here/.venv/bin/python
out=${OUT:-/tmp/careplan-compare}
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
git -C "$here" archive "$rev" | tar -x -C "$base"
cp "$here/bench/load.py" "$base/bench/load.py"  # the same driver on both sides
mkdir -p "$out"
for run in $(seq 1 "$runs"); do
  for side in base this; do
    dir=$base; [ "$side" = this ] && dir=$here
    (cd "$dir" && timeout 1800 "$python" bench/load.py "$@" --json "$out/$side-$run.json" > "$out/$side-$run.txt" 2>&1)
    echo "== $side ($([ "$side" = base ] && echo "$rev" || echo working tree)) run $run, load $(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E "round|ratio" "$out/$side-$run.txt"
  done
done
