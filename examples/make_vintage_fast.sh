#!/usr/bin/env bash
# Make `vintage-fast` in your model store: distill the built-in `vintage` into a 16-channel ResNet on photos
# that scikit-image ships, and report its quality against `vintage` on held-out photos it never saw
# (scikit-learn, matplotlib and scikit-image photos).
#
#   bash examples/make_vintage_fast.sh           # about 45 minutes on 2 CPU cores
#
# Needs: pip install scikit-image scikit-learn (the test extra has them). WORK (default: a new temporary
# folder) holds the photos and the run folder; the model lands in the store ($CYCLEGAN_FX_HOME or the default).
# The figures this made are in the README (Distillation); they miss the targets of a built-in model, so it
# does not ship in the package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
work="${WORK:-$(mktemp -d)}"

"$python" "$root/bench/photos.py" "$work/photos"
"$python" -m cyclegan_fx distill vintage --data "$work/photos/train" --eval "$work/photos/heldout" \
    --name vintage-fast --runs-dir "$work/runs" --width 16 --steps 3000 --colour-jitter 1 --seed 0
