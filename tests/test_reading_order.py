"""The notebook reads in order: no cell uses a name that only a later cell defines, and the code a reader meets
before the first idea is short (collapsed cells aside)."""
import ast
import builtins
import json
import re

from conftest import NOTEBOOK

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
CODE = [c for c in CELLS if c["cell_type"] == "code"]
src = lambda c: "".join(c["source"])


def python(c):
    "The cell's source without IPython magics, parsed."
    return ast.parse("\n".join(line for line in src(c).splitlines() if not line.lstrip().startswith(("%", "!"))))


def defined(tree):
    "Names a cell binds at its top level: defs, classes, imports, assignments, loop targets."
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def bound_in(fn):
    "Names a function binds itself: its arguments, assignments, nested defs, imports, except and loop targets."
    args = fn.args
    names = {a.arg for a in args.args + args.kwonlyargs + args.posonlyargs}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not fn:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Lambda) and node is not fn:
            names |= bound_in(node)
    return names


def globals_used_in_functions(tree):
    "Names read inside function bodies that neither they nor an enclosing function bind: globals read when called."
    used = set()
    def visit(node, enclosing):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                scope = enclosing | bound_in(child)
                used.update(n.id for n in ast.walk(child)
                            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in scope)
                visit(child, scope)
            else:
                visit(child, enclosing)
    visit(tree, set())
    return used


def forward_references(cells):
    "(cell index, name) for every global a function body reads that is first defined in a later cell."
    first = {}
    for i, c in enumerate(cells):
        for name in defined(python(c)):
            first.setdefault(name, i)
    out = []
    for i, c in enumerate(cells):
        for name in globals_used_in_functions(python(c)):
            if name in first and first[name] > i and not hasattr(builtins, name):
                out.append((i, name))
    return out


def test_the_checker_finds_a_forward_reference():
    fake = [{"source": ["def f():\n", "    return g()\n"]}, {"source": ["def g():\n", "    return 1\n"]}]
    assert forward_references(fake) == [(0, "g")]
    fine = [{"source": ["def g():\n", "    return 1\n"]}, {"source": ["def f(g=None):\n", "    return g\n"]}]
    assert forward_references(fine) == []


def test_no_export_cell_uses_a_name_defined_later():
    export = [c for c in CODE if "export" in c.get("metadata", {}).get("tags", [])]
    assert forward_references(export) == []


def test_no_cell_uses_a_name_defined_later_in_reading_order():
    assert forward_references(CODE) == []


def test_the_code_before_the_first_idea_is_short():
    "Cells a reader sees before Part 2 (collapsed Colab forms aside): at most 60 lines of code."
    lines = 0
    for c in CELLS:
        if c["cell_type"] == "markdown" and re.match(r"##\s+Part\s+2\b", src(c)):
            break
        if c["cell_type"] == "code" and c.get("metadata", {}).get("cellView") != "form":
            lines += sum(1 for line in src(c).splitlines() if line.strip() and not line.strip().startswith("#"))
    assert lines <= 60, f"{lines} lines of code before Part 2"


def function_lines(name):
    "Lines (neither blank nor comments, docstring included) of the notebook function `name`, from its export cell."
    for c in CODE:
        for node in python(c).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                body = src(c).splitlines()[node.lineno - 1:node.end_lineno]
                return sum(1 for line in body if line.strip() and not line.strip().startswith("#"))
    raise KeyError(name)


def test_the_recipe_and_the_sampler_fit_a_screen():
    "Part 7's train is the recipe in about 30 lines; Part 8's sampler (sample and its loop) about 25, plus its guard."
    assert function_lines("train") <= 30
    assert function_lines("sample") + function_lines("reverse_process") <= 32
