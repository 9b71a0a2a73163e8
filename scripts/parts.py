"""Split a file into parts small enough for copies or uploads that limit each file (scripts/gpu_run.py writes
parts of 15 MiB), and join them again.

    python scripts/parts.py split runs/a/absorbing.pt [--mib 15]    # absorbing.pt.part0, .part1, ...
    python scripts/parts.py join runs/a/absorbing.pt                # from those parts, written atomically
"""
import argparse
import glob
import hashlib
import os

MIB = 2 ** 20


def split(path, mib=15, remove=False):
    "Write path.part0, path.part1, ... of at most `mib` MiB each; return their names."
    blob, size = open(path, "rb").read(), int(mib * MIB)
    names = []
    for i in range(0, max(1, len(blob)), size):
        names.append(f"{path}.part{i // size}")
        with open(names[-1], "wb") as f:
            f.write(blob[i:i + size])
    if remove:
        os.remove(path)
    return names


def join(path):
    "Join path.part0, path.part1, ... into path (whole or absent); return its SHA-256."
    parts = sorted(glob.glob(f"{glob.escape(path)}.part*"), key=lambda p: int(p.rsplit(".part", 1)[1]))
    if not parts:
        raise FileNotFoundError(f"no parts {path}.part0, ... to join")
    numbers = [int(p.rsplit(".part", 1)[1]) for p in parts]
    if numbers != list(range(len(parts))):
        raise FileNotFoundError(f"parts of {path} are missing: found numbers {numbers}")
    from notebook import load_notebook_exports
    blob = b"".join(open(p, "rb").read() for p in parts)
    load_notebook_exports().atomic_write(path, lambda f: f.write(blob))
    return hashlib.sha256(blob).hexdigest()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["split", "join"])
    ap.add_argument("path")
    ap.add_argument("--mib", type=float, default=15)
    a = ap.parse_args()
    print(*(split(a.path, a.mib) if a.action == "split" else [join(a.path)]), sep="\n")
