"""Safe to rerun: after Run all in one kernel, every Part runs again on its own, last Part first, in that kernel,
and every cell succeeds. A reader reruns cells to experiment; nothing a later cell does may break an earlier one."""
import os
import subprocess
import sys

from conftest import NOTEBOOK, ROOT

RUN = r"""
import re, sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}})
parts, name = [], "the front matter"                     # (name, cell indices), in reading order
for i, cell in enumerate(nb.cells):
    m = re.match(r"##\s+(Part\s+\d+)", cell.source) if cell.cell_type == "markdown" else None
    if m or not parts:
        parts.append((m.group(1) if m else name, []))
    if cell.cell_type == "code":
        parts[-1][1].append(i)
with client.setup_kernel():
    t0 = time.time()
    for i, cell in enumerate(nb.cells):
        client.execute_cell(cell, i)
    print(f"Run all: {time.time() - t0:.0f} s", flush=True)
    for part, cells in reversed(parts):
        t0 = time.time()
        for i in cells:
            client.execute_cell(nb.cells[i], i)             # raises on the first cell that fails
        print(f"{part} again: {len(cells)} cells, {time.time() - t0:.1f} s", flush=True)
print("every Part reran")
"""


def test_every_part_reruns_after_run_all_last_part_first(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DIFFUSION_LOAD", "DIFFUSION_EVAL", "DIFFUSION_GRAPH",
                                                             "DIFFUSION_DATA")}
    env.update(DIFFUSION_PRESET="smoke")
    r = subprocess.run([sys.executable, "-c", RUN, str(NOTEBOOK), str(ROOT)], env=env, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "every Part reran" in r.stdout
    parts = [line.split(" again")[0] for line in r.stdout.splitlines() if " again: " in line]
    assert parts[0] == "Part 15" and parts[-1] == "the front matter" and len(parts) == 17, r.stdout
