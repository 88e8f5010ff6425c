#!/usr/bin/env bash
# Make `vintage-fast` in your model store: distill the built-in `vintage` into the compact generator (32 channels)
# on photos that registry packages ship (scikit-image's and OpenCV's sample photos), and report its quality
# against `vintage` on held-out photos it never saw (scikit-learn, matplotlib and scikit-image photos).
#
#   bash examples/make_vintage_fast.sh           # about 35 minutes on 2 idle CPU cores
#
# Needs: pip install scikit-image scikit-learn (the test extra has the first) and access to PyPI (OpenCV's photos come
# from the opencv-python source archive). WORK (default: a new temporary folder) holds the photos and the run
# folder; the model lands in the store ($CYCLEGAN_FX_HOME or the default). The figures this made are in the README
# (Distillation); they miss the targets of a built-in model, so it does not ship in the package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
work="${WORK:-$(mktemp -d)}"

"$python" "$root/bench/photos.py" "$work/photos"
"$python" -m cyclegan_fx distill vintage --data "$work/photos/train" --eval "$work/photos/heldout" \
    --name vintage-fast --runs-dir "$work/runs" --student compact --width 32 --lr 1e-3 --steps 2000 --seed 0
