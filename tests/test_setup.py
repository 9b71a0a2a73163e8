"""The reader's path: the Colab setup cell never stops "Run all", the README's badge matches it, the contents
list is complete, and the committed notebook renders without widget state."""
import hashlib
import json
import re
import subprocess
import sys

from conftest import NOTEBOOK, ROOT

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
SETUP = next("".join(c["source"]) for c in CELLS if c["cell_type"] == "code" and "google.colab" in "".join(c["source"]))
# the setup cell runs after the first export cell (imports and utilities such as atomic_write)
UTILITIES = next("".join(c["source"]) for c in CELLS if "def atomic_write" in "".join(c["source"]))
SETUP = UTILITIES + "\n" + SETUP


def test_setup_cell_is_collapsed_in_colab():
    cell = next(c for c in CELLS if c["cell_type"] == "code" and "google.colab" in "".join(c["source"]))
    assert cell["metadata"].get("cellView") == "form" and "".join(cell["source"]).startswith("#@title ")


def test_setup_cell_goes_on_without_network_or_git(tmp_path):
    """Pretend to be Colab with no network and no git, in an empty folder: the cell prints and returns."""
    code = ("import sys, types, urllib.request\n"
            "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
            "def offline(*a, **k): raise OSError('no network')\n"
            "urllib.request.urlopen = offline\n" + SETUP)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={"PATH": str(tmp_path)})                 # no git on the PATH either
    assert r.returncode == 0, r.stderr
    assert "no shipped models here" in r.stdout
    assert [p.name for p in tmp_path.iterdir()] == []               # nothing half-written


def test_setup_cell_fetches_verified_files_and_rejects_a_bad_hash(tmp_path):
    """Without git, it fetches the manifest and then each file; a file whose hash differs is not kept."""
    files = {"assets/manifest.json": json.dumps({"assets/gpu-absorbing.pt": hashlib.sha256(b"ok").hexdigest(),
                                                 "assets/results.json": "0" * 64}).encode(),
             "assets/gpu-absorbing.pt": b"ok", "assets/results.json": b"tampered"}
    code = ("import io, sys, types, urllib.request\n"
            "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
            f"FILES = {files!r}\n"
            "def fake(url, timeout=None):\n"
            "    return io.BytesIO(FILES[url.split('/main/')[1]])\n"
            "urllib.request.urlopen = fake\n" + SETUP)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={"PATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "assets" / "gpu-absorbing.pt").read_bytes() == b"ok"
    assert not (tmp_path / "assets" / "results.json").exists() and "SHA-256 mismatch" in r.stdout
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == ["gpu-absorbing.pt", "manifest.json"]


def test_one_repository_url_for_the_badges_and_the_setup_cell():
    repo = re.search(r'REPO = "([^"]+)"', SETUP).group(1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = "".join(CELLS[0]["source"])
    for text in (readme, intro):
        badges = re.findall(r"colab.research.google.com/github/([^/]+/[^/]+)/blob/main/annotated_diffusion.ipynb", text)
        assert badges and set(badges) == {repo}


def test_contents_list_names_every_part():
    "The first cell ends with the contents, folded (the first screen holds the idea, the picture and the recipe)."
    intro = "".join(CELLS[0]["source"])
    assert re.search(r"<details><summary><b>Contents</b>.*</summary>\n\n0\. \[.*</details>$", intro, re.S)
    parts = [re.match(r"## Part (\d+): (.*)", "".join(c["source"])) for c in CELLS if c["cell_type"] == "markdown"]
    numbers = [m.group(1) for m in parts if m]
    assert numbers == [str(i) for i in range(len(numbers))]
    for m in filter(None, parts):
        anchor = "(#Part-" + m.group(1) + ":-" + m.group(2).strip().replace(" ", "-") + ")"   # Jupyter's anchor
        assert re.search(rf"^{m.group(1)}\. \[.*\]\({re.escape(anchor[1:-1])}\)$", intro, re.M), \
            f"Part {m.group(1)} is missing from the contents list, or its link is not {anchor}"


def test_committed_notebook_has_no_widget_state_and_final_progress_text():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert "widgets" not in nb.get("metadata", {})
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in o.get("data", {})
            if o.get("output_type") == "stream":
                assert "\r" not in o["text"] if isinstance(o["text"], str) else all("\r" not in t for t in o["text"])
