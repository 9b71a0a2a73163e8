"""Outside Colab: the committed notebook as GitHub, JupyterLab, VS Code and nbconvert show it, the README's first
screen, and the blog post that scripts/export_article.py writes."""
import base64
import html
import json
import re
import sys

import pytest

from conftest import NOTEBOOK, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import export_article  # noqa: E402

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
src = lambda c: "".join(c["source"])


def images(cell):
    "The base64 payload of every image a cell's outputs show: PNGs, GIFs, and data URIs inside HTML."
    out = []
    for o in cell.get("outputs", []):
        data = o.get("data", {})
        kind = next((m for m in ("image/png", "image/gif") if m in data), None)
        if kind:
            out.append("".join(data[kind]).strip())
        elif "text/html" in data:
            out += [m.group(3) for m in export_article.DATA_URI.finditer("".join(data["text/html"]))]
    return out


FIGURES = [(i, img) for i, c in enumerate(CELLS) if c["cell_type"] == "code" for img in images(c)]
COLLAPSED = [c for c in CELLS if c["cell_type"] == "code" and export_article.collapsed(c)]


SHOWN = "\n".join(src(c) for c in CELLS if c not in COLLAPSED)


def code_lines(cell):
    "The lines of a collapsed cell's code that could only come from it: long, not comments, in no cell shown."
    return [line.strip() for line in src(cell).splitlines()
            if len(line.strip()) > 30 and not line.strip().startswith("#") and line.strip() not in SHOWN]


@pytest.fixture(scope="module")
def nbconvert_html():
    "The committed notebook through nbconvert's HTML exporter as it comes (jupyter nbconvert --to html)."
    import nbformat
    from nbconvert import HTMLExporter
    return HTMLExporter().from_notebook_node(nbformat.read(NOTEBOOK, as_version=4))[0]


@pytest.fixture(scope="module")
def post(tmp_path_factory):
    out = tmp_path_factory.mktemp("post")
    export_article.export(out)
    return out, (out / "index.html").read_text(encoding="utf-8"), (out / "article.md").read_text(encoding="utf-8")


def test_the_animation_is_an_image_in_nbconvert_html(nbconvert_html):
    gif = base64.b64encode((ROOT / "assets" / "denoising-absorbing.gif").read_bytes()).decode()
    assert f"data:image/gif;base64,{gif}" in nbconvert_html, "the first screen's animation is missing from the HTML"
    assert "<IPython.core.display" not in html.unescape(nbconvert_html)


def test_every_collapsed_cell_is_collapsed_in_jupyterlab_and_vs_code_too():
    forms = [c for c in CELLS if c["metadata"].get("cellView") == "form"]
    assert len(forms) >= 10
    assert all(c["metadata"].get("jupyter", {}).get("source_hidden") is True for c in forms)


def test_no_reader_facing_cell_speaks_of_the_test_harness():
    said = [(i, m.group(0)) for i, c in enumerate(CELLS) for m in re.finditer(
        r"nbval|NBVAL|pytest|harness|a test checks|for tests|tests/", src(c))]
    assert not said, said
    assert any("nbval-check-output" in c["metadata"].get("tags", []) for c in CELLS)   # the marker is a tag


def test_the_readme_opens_with_the_picture_the_badge_and_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    first = "\n".join(lines[:40])
    picture = next(i for i, line in enumerate(lines) if "assets/denoising-absorbing.gif" in line)
    assert picture < 40 and lines[0].startswith("# The Annotated Discrete Diffusion")
    assert len(re.findall(r"\w+", re.sub(r"<[^>]*>", " ", "\n".join(lines[1:picture])))) <= 200
    assert "colab-badge.svg" in first and "jupyter nbconvert --to notebook --execute" in first
    assert "bash .ci/run" in first
    text = "\n".join(lines)
    assert text.index("## What you learn") < text.index("<!-- headline:start -->")
    assert text.index("<!-- headline:start -->") < text.index("<!-- results:start -->")
    assert text.index("<!-- results:start -->") < text.index("<!-- findings:start -->")   # the details further down


def shipped(i, img):
    "A figure as the post shows it: the file the cell saves under assets/ (full resolution), else the notebook's copy."
    cell = CELLS[i]
    names = export_article.saved_names(src(cell))
    k = [x for j, x in FIGURES if j == i].index(img)
    if k < len(names) and (ROOT / "assets" / names[k]).is_file():
        return base64.b64encode((ROOT / "assets" / names[k]).read_bytes()).decode()
    return img


def test_the_web_page_shows_every_figure_hides_collapsed_code_and_its_links_work(post):
    _, page, _ = post
    assert FIGURES and all(shipped(i, img) in page for i, img in FIGURES), "a figure is missing from the page"
    assert sum(shipped(i, img) != img for i, img in FIGURES) >= 15             # most at the resolution of assets/
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) >= len(FIGURES) and all(re.search(r"""alt=("[^"]{8,}"|'[^']{8,}')""", tag) for tag in imgs)
    assert "max-width: 45em" in page                                           # a column of readable width
    assert re.search(r"<details><summary><b>Contents</b>.*?</summary>\s*<ol start=\"0\">", page, re.S)  # folded
    assert not re.findall(r"""href=["'](?!#|https?://)""", page)               # every link resolves from the page
    assert "<IPython.core.display" not in html.unescape(page)
    text = html.unescape(page)
    for cell in COLLAPSED:
        assert not [line for line in code_lines(cell) if line in text], src(cell).splitlines()[0]
    ids = set(re.findall(r'id="([^"]+)"', page))
    links = re.findall(r'href="#([^"]+)"', page)
    assert len(links) >= 12 and not [a for a in links if a not in ids]              # the contents' links
    assert "mathjax" in page.lower() and "$$" in page                               # typeset when online
    assert not re.search(r"""src=["'](?!data:|https?:)""", page)                    # nothing outside the file


def test_the_markdown_shows_every_figure_from_files_that_exist(post):
    out, _, article = post
    assert "<IPython.core.display" not in article
    for cell in COLLAPSED:
        assert not [line for line in code_lines(cell) if line in article], src(cell).splitlines()[0]
    links = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", article) + re.findall(r"""<img[^>]*src=["']([^"']+)""", article)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert all((out / link).is_file() for link in local), [link for link in local if not (out / link).is_file()]
    shown = {base64.b64encode((out / link).read_bytes()).decode() for link in local}
    assert all(shipped(i, img) in shown for i, img in FIGURES), "a figure of the notebook is missing from the Markdown"
    assert not [b for b in re.findall(r"<pre>.*?</pre>", article, re.S) if re.search(r"\n\s*\n", b)]   # GitHub-safe
    prose = re.sub(r"```.*?```", "", article, flags=re.S)
    assert not re.findall(r"\]\((?!#|https?://|figures/)", prose)             # links resolve from the post
    assert (out / "figures" / "fig-schedules.png").is_file()                        # named as the notebook names it
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', article))
    assert not [a for a in re.findall(r"\]\(#([^)]+)\)", article) if a not in anchors]


def test_export_says_what_is_wrong_with_its_arguments(tmp_path):
    with pytest.raises(SystemExit, match="no notebook at"):
        export_article.export(tmp_path / "out", tmp_path / "missing.ipynb")
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit, match="is a file"):
        export_article.export(tmp_path / "file")


def test_the_export_needs_no_torch(tmp_path):
    "The post is made from the stored outputs: the exporter runs with torch unimportable."
    import subprocess
    code = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['export_article.py', sys.argv[1]]; "
            "runpy.run_path(sys.argv[0].replace('export_article.py', '') + 'scripts/export_article.py', "
            "run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "post")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "post" / "index.html").is_file() and (tmp_path / "post" / "article.md").is_file()


def test_nbconvert_with_the_shipped_config_shows_the_picture_not_the_collapsed_code():
    """Every collapsed cell is tagged `hide-input` (Jupyter Book folds it); nbconvert with scripts/nbconvert_config.py
    leaves their code out and keeps the rest, so that the page opens on the picture."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    assert all("hide-input" in c["metadata"].get("tags", []) for c in COLLAPSED)
    config = Config()
    exec((ROOT / "scripts" / "nbconvert_config.py").read_text(), {"get_config": lambda: config})
    page = HTMLExporter(config=config).from_notebook_node(nbformat.read(NOTEBOOK, as_version=4))[0]
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for cell in COLLAPSED:
        assert not [line for line in code_lines(cell) if line in text], src(cell).splitlines()[0]
    shown = next(c for c in CELLS if c["cell_type"] == "code" and c not in COLLAPSED)
    assert src(shown).splitlines()[0] in text
    body = page[page.index("<body"):]
    first_code = body.index("highlight hl-ipython3")                        # the first code shown
    assert body.index("data:image/gif;base64,") < first_code                  # the picture before any code
