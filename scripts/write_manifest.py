"""Record the SHA-256 of every file the notebook needs from the repository besides itself (assets/manifest.json).

    python scripts/write_manifest.py

The notebook's Colab setup cell, when it cannot clone the repository, downloads these files one by one (paths
relative to the repository's root) and keeps each only if its hash matches; a test fails when the manifest is out
of date.
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = ["assets/gpu-absorbing.pt", "assets/gpu-uniform.pt", "assets/gpu-autoregressive.pt", "assets/results.json",
         "assets/cpu-position-ablation.json", "scripts/measure.py", "scripts/figures.py", "scripts/report.py",
         "scripts/scale.py"]

if __name__ == "__main__":
    manifest = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in FILES}
    (ROOT / "assets" / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest, indent=1))
