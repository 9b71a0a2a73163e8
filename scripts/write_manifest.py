"""Record the SHA-256 of every file the notebook fetches from assets/ (assets/manifest.json).

    python scripts/write_manifest.py

The notebook's Colab setup cell, when it cannot clone the repository, downloads these files one by one and
keeps each only if its hash matches; a test fails when the manifest is out of date.
"""
import hashlib
import json
import pathlib

ASSETS = pathlib.Path(__file__).resolve().parents[1] / "assets"
FILES = ["gpu-absorbing.pt", "gpu-uniform.pt", "gpu-autoregressive.pt", "results.json", "cpu-position-ablation.json"]

if __name__ == "__main__":
    manifest = {f: hashlib.sha256((ASSETS / f).read_bytes()).hexdigest() for f in FILES}
    (ASSETS / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest, indent=1))
