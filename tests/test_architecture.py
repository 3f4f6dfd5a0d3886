"""The package's shape: no import cycles between lossbench's modules, counting the imports
inside functions too (a lazy import hides a cycle from Python, not from a reader)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lossbench"


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
        deps = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lossbench"):
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                deps |= subs
                if len(subs) < len(node.names):  # a name defined in the package module itself
                    deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("lossbench")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


#: what training must not reach: scoring (the score package and the evaluation and latent code
#: it runs), the report, the study runner that calls training, and the command line
NOT_FROM_TRAINING = ("lossbench.score", "lossbench.score.evaluate", "lossbench.score.latent", "lossbench.report", "lossbench.study",
                     "lossbench.cli", "lossbench.api")


def test_reachable_follows_imports_through_other_modules():
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}


def test_training_stops_at_the_checkpoint_and_imports_nothing_of_scoring():
    """Issue 29 §2: train, then score, as separate stages: the loop, the seeds side by side and the
    balance diagnostics reach no scoring, report, runner or command-line module, even indirectly."""
    graph = import_graph()
    training = sorted(m for m in graph if m == "lossbench.train" or m.startswith("lossbench.train."))
    assert {"lossbench.train.run", "lossbench.train.loop", "lossbench.train.vectorised"} <= set(training)
    for module in training:
        bad = sorted(m for m in reachable(graph, module) if m.startswith(NOT_FROM_TRAINING))
        assert bad == [], f"{module} reaches {bad}"


def test_the_folder_list_shows_the_flow():
    """Issue 29 §6: ``ls lossbench/`` reads study, train, score, store, report, the seams and a core;
    the top level holds only the face (cli, api, the extension registry, the version)."""
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "_version", "api", "cli", "registry"]
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"study", "train", "score", "store", "report", "losses", "metrics", "models", "data", "nets", "core"} <= packages


def test_the_lower_layers_import_nothing_above_them():
    """core/ imports nothing else of lossbench; store/ (file names, the manifest, reading folders back)
    imports only core/, so a report or a score reads folders through code that knows no registry."""
    graph = import_graph()

    def layer(prefix):
        return {m: deps for m, deps in graph.items() if m.startswith(prefix)}

    for module, deps in layer("lossbench.core").items():
        assert not {d for d in deps if not d.startswith("lossbench.core")}, module
    for module, deps in layer("lossbench.store").items():
        above = {d for d in deps if not d.startswith(("lossbench.store", "lossbench.core"))}
        assert not above, f"{module} imports {sorted(above)}"


#: the registries (seams): their entries' facts reach the report through the manifest
REGISTRIES = ("lossbench.metrics", "lossbench.losses", "lossbench.models", "lossbench.data", "lossbench.nets")


def test_the_report_reads_facts_from_the_folder_not_the_registries():
    """Issue 29 §1 and §4: no report module imports a registry (metrics, loss terms, models, data,
    networks) but report.facts, whose fallback serves folders written before the facts were recorded."""
    graph = import_graph()
    users = sorted(m for m, deps in graph.items() if m.startswith("lossbench.report")
                   and any(d == r or d.startswith(r + ".") for d in deps for r in REGISTRIES))
    assert users == ["lossbench.report.facts"]


def test_no_stage_branches_on_a_loss_terms_name():
    """Issue 29 §4: outside the loss terms themselves (lossbench.losses) and the study validator's
    rule that a VAE gets a kl term, no module compares a term's name with a built-in's: they read
    its role and facts (TermSpec). A comparison like ``term == "kl"`` or ``t["term"] == "adversarial"``
    here fails this test."""
    import re

    names = r"(l1|l2|lp|bce|kl|ssim|ms-ssim|mix|perceptual|adversarial)"
    pattern = re.compile(rf"""(term|\["term"\]|\.get\("term"\))\s*(==|!=|in)\s*\(?["']{names}["']""")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PACKAGE / "losses"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert found == []


def test_the_report_reads_stored_folders_and_runs_no_stage():
    """The report imports no scoring, training or study module: it reads what they stored
    (lossbench.store), so a table or figure is rebuilt from a folder alone."""
    graph = import_graph()
    for module in (m for m in graph if m.startswith("lossbench.report")):
        bad = sorted(d for d in graph[module] if d.startswith(("lossbench.score", "lossbench.train", "lossbench.study")))
        assert bad == [], f"{module} imports {bad}"


def test_nothing_imports_the_command_line():
    graph = import_graph()
    assert sorted(m for m, deps in graph.items() if "lossbench.cli" in deps) == ["lossbench.__main__"]


def test_flags_written_by_lossbench_0_1_are_read_as_records():
    """Runs stored before flags were records keep their meaning (the committed results hold some)."""
    from lossbench.core.flags import Flag

    cases = {"epoch 3: at the decoder the gradient of l2 is 250x that of kl": "loss-balance",
             "collapsed posterior: no active latent unit": "collapsed-posterior",
             "collapsed output: reconstructions barely depend on the input": "collapsed-output",
             "saturated output: mean |logit| 40.0": "saturated-output",
             "not converged: max_epochs (3) reached": "not-converged",
             "discriminator of adv wins: accuracy >= 0.99": "discriminator-wins",
             "discriminator of adv collapsed: calls (nearly) every image the same": "discriminator-collapsed",
             "something new": "other"}
    for text, kind in cases.items():
        flag = Flag.from_stored(text)
        assert (flag.kind, flag.message, flag.severity) == (kind, text, "warning")
        assert Flag.from_stored(flag.to_dict()) == flag


def test_committed_study_folders_match_what_their_study_files_resolve_to():
    """A new key in the study schema changes every committed study.yaml (and the manifest's digest
    of it) the next time a study is run; this fails first, so the committed results get re-written
    in the same change. (Re-running a finished study must leave committed files byte-identical.)"""
    import yaml

    from conftest import REPO
    from lossbench.study import load_study

    for folder in sorted((REPO / "results").iterdir()):
        study_file = REPO / "studies" / f"{folder.name}.yaml"
        if not (folder / "study.yaml").is_file() or not study_file.is_file():
            continue
        expected = yaml.safe_dump(load_study(study_file).resolved, sort_keys=False)
        assert (folder / "study.yaml").read_text() == expected, f"re-run studies/{folder.name}.yaml and commit"


def test_every_lazily_named_implementation_of_the_registries_resolves():
    """The registries name their torch code by 'module:attribute' (lossbench.core.lazy); a typo there
    would only surface when a study first uses the entry."""
    import inspect

    from lossbench.data import DATASETS
    from lossbench.core.lazy import Lazy
    from lossbench.losses import LOSS_TERMS, Term
    from lossbench.metrics import METRICS
    from lossbench.metrics.features import FEATURE_NETS
    from lossbench.models import MODELS

    named = [(f"term {k}", e.impl) for k, e in LOSS_TERMS.items()] + [(f"model {k}", e.build) for k, e in MODELS.items()]
    named += [(f"metric {k}", f) for k, e in METRICS.items() for f in (e.fn, e.build) if f is not None]
    named += [(f"feature net {k}", e.build) for k, e in FEATURE_NETS.items()] + [(f"dataset {k}", e.load) for k, e in DATASETS.items()]
    lazy = [(what, ref) for what, ref in named if isinstance(ref, Lazy)]
    assert len(lazy) >= len(LOSS_TERMS) + len(MODELS) + len(FEATURE_NETS) + 6
    for what, ref in lazy:
        assert callable(ref.resolve()), what
    assert all(issubclass(e.cls, Term) for e in LOSS_TERMS.values())
    assert all(inspect.signature(MODELS[k].build.resolve()).parameters.keys() == {"shape", "p"} for k in MODELS)


def test_the_public_metric_functions_stay_functions_once_every_submodule_is_imported():
    """Importing a submodule sets the package's attribute of its name: no public function of
    lossbench.metrics may share a name with one (lossbench.metrics.lpips once did)."""
    import importlib
    import pkgutil
    import types

    import lossbench.metrics as metrics

    for module in pkgutil.iter_modules(metrics.__path__):
        importlib.import_module(f"lossbench.metrics.{module.name}")
    for name in metrics.__all__:
        assert not isinstance(getattr(metrics, name), types.ModuleType), name
