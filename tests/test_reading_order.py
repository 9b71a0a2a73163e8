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


# ---- safe to rerun: no cell reads a scratch name that a later cell rebinds ---------------------------------------

class TopLevel(ast.NodeVisitor):
    """The names a cell reads before it binds them (free), and the statements that bind each name at its top level,
    in execution order. Function bodies, lambdas and comprehensions keep their names to themselves."""
    def __init__(self):
        self.bound, self.free, self.binders = set(), set(), {}
    def bind(self, name, stmt):
        self.bound.add(name)
        self.binders.setdefault(name, []).append(ast.unparse(stmt).strip())
    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id not in self.bound:
            self.free.add(node.id)
        elif not isinstance(node.ctx, ast.Load):
            self.bind(node.id, self.stmt)
    def generic_visit(self, node):
        if isinstance(node, ast.stmt):
            self.stmt = node
        super().generic_visit(node)
    def visit_Assign(self, node):
        self.stmt = node
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)
    def visit_For(self, node):
        self.stmt = node
        self.visit(node.iter)
        self.visit(node.target)
        for b in node.body + node.orelse:
            self.visit(b)
    def visit_FunctionDef(self, node):
        args = getattr(node, "args", None)                    # (a class has bases instead)
        defaults = args.defaults + [d for d in args.kw_defaults if d] if args else node.bases
        for d in node.decorator_list + defaults:
            self.visit(d)
        self.bind(node.name, node)
    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef
    def visit_Import(self, node):
        for a in node.names:
            self.bind((a.asname or a.name).split(".")[0], node)
    visit_ImportFrom = visit_Import
    def visit_Lambda(self, node):
        pass
    def visit_ListComp(self, node):
        self.visit(node.generators[0].iter)                   # the rest is the comprehension's own scope
    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp


def rerun_hazards(cells):
    """(cell, name, the cell it reads it from, a later cell that rebinds it): after Run all, rerunning the cell reads
    the later value. Rebinding by the very same statement (`absorbing = models["absorbing"]`) gives the same value."""
    seen = []
    for c in cells:
        v = TopLevel()
        v.visit(python(c))
        seen.append((v.free - set(dir(builtins)), v.binders))
    out = []
    for k, (free, _) in enumerate(seen):
        for name in sorted(free):
            before = [j for j in range(k) if name in seen[j][1]]
            if not before:
                continue
            mine = set(seen[before[-1]][1][name])
            later = [j for j in range(k + 1, len(seen)) if name in seen[j][1] and set(seen[j][1][name]) != mine]
            if later:
                out.append((k, name, before[-1], later[0]))
    return out


def test_the_rerun_checker_finds_a_scratch_name_rebound_later():
    cell = lambda s: {"source": [s]}
    bad = [cell("i = 3\n"), cell("print(i)\n"), cell("for i in range(2):\n    pass\n")]
    assert rerun_hazards(bad) == [(1, "i", 0, 2)]
    same = [cell("m = d['a']\n"), cell("print(m)\n"), cell("m = d['a']\n")]
    fine = [cell("i = 3\n"), cell("print(i)\n"), cell("for k in range(2):\n    j = [i for i in range(k)]\n")]
    assert rerun_hazards(same) == rerun_hazards(fine) == []


def test_no_cell_reads_a_name_that_a_later_cell_rebinds():
    assert rerun_hazards(CODE) == []
