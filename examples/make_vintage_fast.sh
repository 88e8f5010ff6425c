#!/usr/bin/env bash
# Rebuild the built-in `vintage-fast` model: distill the built-in `vintage` into a 16-channel ResNet on photos
# that scikit-image ships, report its quality on held-out photos (scikit-learn, matplotlib, scikit-image) it
# never saw, and copy its weights and record into the package.
#
#   bash examples/make_vintage_fast.sh           # about 45 minutes on 2 CPU cores
#
# Needs: pip install scikit-image scikit-learn (the test extra has them). The run goes to a scratch store and
# run folder, so the user's own store is not touched; the result is cyclegan_fx/models/weights/vintage-fast.*.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
work="${WORK:-$(mktemp -d)}"
export CYCLEGAN_FX_HOME="$work/home"

"$python" "$root/bench/photos.py" "$work/photos"
"$python" -m cyclegan_fx distill vintage --data "$work/photos/train" --eval "$work/photos/heldout" \
    --name vintage-fast --runs-dir "$work/runs" --width 16 --steps 3000 --seed 0
"$python" - "$CYCLEGAN_FX_HOME/models/vintage-fast" "$root/cyclegan_fx/models/weights" <<'PY'
"""Copy the student's weights and write the options the store imports them with (its record, without local paths)."""
import json
import shutil
import sys
from pathlib import Path

bundle, weights = Path(sys.argv[1]), Path(sys.argv[2])
info = json.loads((bundle / "model.json").read_text())
record = {k: v for k, v in info["provenance"]["a2b"].items() if k not in ("run", "checkpoint", "data")}
record["data"] = "scikit-image sample photos (bench/photos.py OUT/train)"
record["made_by"] = "examples/make_vintage_fast.sh"
weights.mkdir(parents=True, exist_ok=True)
shutil.copyfile(bundle / "a2b.safetensors", weights / "vintage-fast.safetensors")
options = {"label": info["label"], "direction": "a2b", "training_size": info["training_size"],
           "work_size": info["work_size"], "provenance": record}
(weights / "vintage-fast.json").write_text(json.dumps(options, indent=2) + "\n")
print(f"Wrote {weights / 'vintage-fast.safetensors'} ({(weights / 'vintage-fast.safetensors').stat().st_size:,} bytes)")
PY
