"""A blog post from the notebook in one command: a self-contained web page, and Markdown with its figures.

    python scripts/export_article.py OUTDIR [--notebook annotated_diffusion.ipynb]

It writes, from the notebook's stored outputs (nothing is run):
  OUTDIR/index.html   one page that needs no other file: every figure and the animation embedded, the maths typeset
                      by MathJax when the page is online, the code of collapsed cells hidden and their outputs kept,
                      the text in a column of readable width, the contents' links working;
  OUTDIR/article.md   the same for a static-site blog (Jekyll, Hugo, Quarto) or GitHub, with its images in
                      OUTDIR/figures/, each named as the notebook saves it under assets/ (fig-schedules.png, ...).
Figures come at the resolution assets/ has them (the notebook shows smaller copies), each with its caption as alt
text; links to the repository's files point to the repository. Both are built by nbconvert, which the notebook's
requirements already install; nothing here needs torch.
"""
import argparse
import base64
import copy
import html
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "annotated_diffusion.ipynb"
TITLE = "The Annotated Discrete Diffusion"
DATA_URI = re.compile(r"""(src=["'])data:image/(\w+);base64,([A-Za-z0-9+/=\s]+)(["'])""")
ASSET = re.compile(r"assets/([\w.-]+\.(?:png|gif))|save_figure\(.*?\"(fig-[\w-]+)\"", re.S)
PLACEHOLDER = re.compile(r"<(IPython\.core\.display\.\w+ object|Figure size [^>]*)>")
CAPTION = re.compile(r"^#\s*(?:Figure:|@title)\s*(.*?)\s*(?:\((?:assets/)?fig-[^)]*\))?\s*$", re.M)
LOCAL_LINK = re.compile(r"(\]\(|href=[\"'])((?:scripts|assets|tests|data)/[^)\"'\s]*|README\.md[^)\"'\s]*|LICENSE)")
STYLE = """<style>
  .jp-Cell, .jp-Notebook > .jp-Cell { max-width: 45em; margin-left: auto; margin-right: auto; }
  .jp-OutputArea-output img { max-width: 100%; height: auto; }
  .jp-RenderedHTMLCommon table { font-size: 0.9em; }
</style>"""


def saved_names(source):
    "The file names a cell saves its figures under (assets/NAME or save_figure(..., \"fig-...\")), in order."
    return [a or b + ".png" for a, b in ASSET.findall(source)]


def collapsed(cell):
    "A cell the notebook shows folded: a Colab form, or a cell whose source JupyterLab and VS Code hide."
    md = cell.get("metadata", {})
    return md.get("cellView") == "form" or bool(md.get("jupyter", {}).get("source_hidden"))


def repository(nb):
    "https://github.com/OWNER/NAME, from the notebook's own setup cell (REPO = ...)."
    m = next(re.search(r'REPO = "([^"]+)"', c.source) for c in nb.cells
             if c.cell_type == "code" and 'REPO = "' in c.source)
    return f"https://github.com/{m.group(1)}"


def figure_outputs(cell, root):
    """Each image output of a code cell as an <img> with its caption as alt text, at the resolution of the file the
    cell saves under root/assets/ where there is one (the notebook keeps a smaller copy)."""
    named = saved_names(cell.source)
    caption = CAPTION.search(cell.source)
    alt = html.escape(caption.group(1) if caption else "a figure of the notebook", quote=True)
    for output in cell.outputs:
        data = output.get("data", {})
        kind = next((m for m in ("image/png", "image/gif") if m in data), None)
        if not kind:
            continue
        name = named.pop(0) if named else None
        blob = data[kind].strip()
        if name and (root / "assets" / name).is_file():
            blob, kind = base64.b64encode((root / "assets" / name).read_bytes()).decode(), \
                "image/" + name.rsplit(".", 1)[1]
        output["data"] = {"text/html": f'<img src="data:{kind};base64,{blob}" alt="{alt}">'}


def reader_view(nb, root=ROOT):
    """The notebook as a reader sees it: collapsed cells show only their outputs (and are left out when they have
    none), the kernel's placeholders ('<IPython.core.display.Image object>', '<Figure size ...>') are dropped, every
    figure is an <img> with alt text at the resolution assets/ has, and links to the repository's files point there."""
    nb = copy.deepcopy(nb)
    repo, cells = repository(nb), []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = LOCAL_LINK.sub(lambda m: f"{m.group(1)}{repo}/blob/main/{m.group(2)}", cell.source)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not placeholder_only(o)]
            figure_outputs(cell, pathlib.Path(root))
            if collapsed(cell):
                if not cell.outputs:
                    continue
                cell.metadata["transient"] = {"remove_source": True}        # nbconvert's templates skip the input
        cells.append(cell)
    nb.cells = cells
    return nb


def placeholder_only(output):
    """Drop a placeholder text that stands beside a richer form; True when nothing but the placeholder is left. A GIF
    gains an <img> form too, since nbconvert's HTML shows no image/gif."""
    data = output.get("data")
    if data and "image/gif" in data and "text/html" not in data:
        data["text/html"] = f"<img src='data:image/gif;base64,{data['image/gif'].strip()}'>"
    if data and PLACEHOLDER.fullmatch(data.get("text/plain", "").strip()):
        del data["text/plain"]
        return not data
    return False


def anchored(source):
    "Give each heading of a Markdown cell the anchor Jupyter gives it, so that the contents' links work anywhere."
    return re.sub(r"(?m)^(#{1,6})\s+(.+?)\s*$", lambda m: f'<a id="{m.group(2).replace(" ", "-")}"></a>\n\n'
                  f"{m.group(1)} {m.group(2)}", source)


def extract_figures(nb):
    """Take every image out of the outputs, for Markdown: {file name: bytes}. A data URI inside HTML (reader_view has
    made every figure one, with its alt text) becomes a link to the file, named as the cell saves it."""
    files = {}

    def keep(name, blob):
        stem, ext = os.path.splitext(name)
        k = 2
        while name in files:
            name, k = f"{stem}-{k}{ext}", k + 1
        files[name] = blob
        return name
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        named = saved_names(cell.source)                                     # what the cell saves, if it says
        for output in cell.outputs:
            data = output.get("data", {})
            if "text/html" in data:
                def to_file(m, named=named, i=i):
                    name = keep(named.pop(0) if named else f"image-{i}.{m.group(2)}", base64.b64decode(m.group(3)))
                    return f"{m.group(1)}figures/{name}{m.group(4)}"
                data["text/html"] = DATA_URI.sub(to_file, data["text/html"])
    return files


def one_line_pre(article):
    """Every <pre> block of raw HTML on one line (its line breaks as &#10;): a blank line inside one would end the
    HTML block for GitHub's Markdown parser and spill the rest as Markdown."""
    return re.sub(r"<pre>(.*?)</pre>", lambda m: "<pre>" + m.group(1).replace("\n", "&#10;") + "</pre>", article,
                  flags=re.S)


def export(outdir, notebook=NOTEBOOK):
    "Write OUTDIR/index.html, OUTDIR/article.md and OUTDIR/figures/; return their paths."
    import nbformat
    from nbconvert import HTMLExporter, MarkdownExporter
    notebook, outdir = pathlib.Path(notebook), pathlib.Path(outdir)
    if not notebook.is_file():
        raise SystemExit(f"no notebook at {notebook}: pass --notebook PATH")
    if outdir.exists() and not outdir.is_dir():
        raise SystemExit(f"{outdir} is a file: give a folder for the page, the Markdown and its figures")
    nb = reader_view(nbformat.read(notebook, as_version=4), notebook.parent)
    resources = {"metadata": {"name": TITLE, "path": str(notebook.parent)}}
    # (no embed_images: it re-parses each block of raw HTML in the Markdown alone, which closes the contents'
    # <details> before its list; figures are data URIs already, and a test keeps every src inside the page)
    page, _ = HTMLExporter(template_name="lab", exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(nb, resources=copy.deepcopy(resources))
    md_nb = copy.deepcopy(nb)
    for cell in md_nb.cells:
        if cell.cell_type == "markdown":
            cell.source = anchored(cell.source)
    files = extract_figures(md_nb)
    article, extra = MarkdownExporter().from_notebook_node(md_nb, resources=copy.deepcopy(resources))
    files.update({pathlib.PurePath(k).name: v for k, v in extra.get("outputs", {}).items()})
    article = one_line_pre(article)
    page = page.replace("</head>", STYLE + "\n</head>", 1)
    import importlib.util
    import tempfile
    spec = importlib.util.spec_from_file_location("project_notebook", ROOT / "scripts" / "notebook.py")
    loader = importlib.util.module_from_spec(spec)                 # scripts/notebook.py, whatever else is on the path
    spec.loader.exec_module(loader)
    notebook_function = loader.notebook_function
    atomic_write = notebook_function("atomic_write", os=os, tempfile=tempfile)   # the notebook's: whole or absent
    (outdir / "figures").mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        atomic_write(str(outdir / "figures" / name), lambda f, blob=blob: f.write(blob))
    atomic_write(str(outdir / "article.md"), lambda f: f.write(article.encode("utf-8")))
    atomic_write(str(outdir / "index.html"), lambda f: f.write(page.encode("utf-8")))
    return outdir / "index.html", outdir / "article.md", sorted(files)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("outdir", help="the folder to write index.html, article.md and figures/ into")
    ap.add_argument("--notebook", default=str(NOTEBOOK), help="the executed notebook (default: %(default)s)")
    a = ap.parse_args()
    page, article, figures = export(a.outdir, a.notebook)
    print(f"wrote {page} ({page.stat().st_size / 1e6:.1f} MB, self-contained), {article} and "
          f"{len(figures)} files in {page.parent / 'figures'}", file=sys.stderr)
