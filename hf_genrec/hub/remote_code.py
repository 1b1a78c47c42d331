"""Export a model folder that loads with ``trust_remote_code=True`` where hf_genrec is not installed.

The modeling code is bundled as flat Python files next to the weights: the closure of the model's
``configuration_*`` / ``modeling_*`` modules and of the SID tokenizer inside ``hf_genrec`` is found by
following relative imports (``ast``), each module is copied to ``genrec_<dotted_path>.py`` (the entry
modules keep their own names), and every relative import is rewritten to point at the flat sibling
file - the layout transformers' dynamic-module loader expects. ``config.json`` and
``tokenizer_config.json`` get the matching ``auto_map``. The ``recommendation`` pipeline is bundled too
(``pipeline_recommendation.py``) and declared in ``config.json``'s ``custom_pipelines``, so
``transformers.pipeline("recommendation", model=folder, trust_remote_code=True)`` works without hf_genrec.

Only packages that the modeling code imports by name (torch, transformers, numpy, safetensors) must be
installed where the folder is loaded. Loading such a folder always needs an explicit
``trust_remote_code=True``; hf_genrec never sets it on your behalf.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path
from typing import Dict, List, Set, Tuple

from ..utils.io import atomic_write_json, atomic_write_text, read_json_file

PACKAGE = "hf_genrec"
TOKENIZER_MODULE = "hf_genrec.tokenization.tokenization_sid"
PIPELINE_MODULE, PIPELINE_FILE = "hf_genrec.pipelines.recommendation", "pipeline_recommendation"


def _module_file(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot locate module {name}")
    return Path(spec.origin)


def _is_package(name: str) -> bool:
    return _module_file(name).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> List[str]:
    """Absolute hf_genrec modules a relative ``from ... import`` needs."""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    target = ".".join(base + ([node.module] if node.module else []))
    needed = [target]
    if _is_package(target):  # names may be submodules of the package rather than re-exported attributes
        for alias in node.names:
            candidate = f"{target}.{alias.name}"
            if importlib.util.find_spec(candidate) is not None:
                needed.append(candidate)
    return needed


def _relative_imports(module: str) -> List[Tuple[ast.ImportFrom, List[str]]]:
    tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append((node, _resolve(module, node)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            raise ValueError(f"{module} imports {node.module} absolutely; bundling supports relative imports only")
    return found


def closure(entries: List[str]) -> Set[str]:
    """All hf_genrec modules reachable from ``entries`` through relative imports."""
    seen: Set[str] = set()
    stack = list(entries)
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        for _, targets in _relative_imports(module):
            stack.extend(t for t in targets if t not in seen)
    return seen


def flat_name(module: str, entries: Dict[str, str]) -> str:
    if module in entries:
        return entries[module]
    return "genrec_" + module[len(PACKAGE) + 1:].replace(".", "_") if module != PACKAGE else "genrec"


def _rewrite(module: str, names: Dict[str, str]) -> str:
    """The module's source with each relative import pointing at the flat file of its target."""
    source = _module_file(module).read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    edits = []
    for node, targets in _relative_imports(module):
        submodules = {t.rsplit(".", 1)[1]: t for t in targets[1:]}
        statements = []
        plain = [a for a in node.names if a.name not in submodules]
        if plain:
            statements.append(ast.unparse(ast.ImportFrom(module=names[targets[0]], names=plain, level=1)))
        for alias in node.names:
            if alias.name in submodules:
                flat = names[submodules[alias.name]]
                statements.append(f"from . import {flat} as {alias.asname or alias.name}")
        edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, statements))
    for first, col, last, end_col, statements in sorted(edits, reverse=True):
        indent = lines[first - 1][:col]
        rest = lines[last - 1][end_col:]
        lines[first - 1:last] = [indent + ("\n" + indent).join(statements) + rest]
    return "".join(lines)


def bundle_modules(folder: str | os.PathLike, entries: Dict[str, str]) -> Dict[str, str]:
    """Write the flat modules of ``entries`` (``{module: file stem}``) and their closure into ``folder``."""
    folder = Path(folder)
    modules = closure(list(entries))
    names = {m: flat_name(m, entries) for m in modules}
    for module in sorted(modules):
        header = f"# Bundled from {module} by hf_genrec's remote-code export; edit the library, not this copy.\n"
        atomic_write_text(folder / f"{names[module]}.py", header + _rewrite(module, names))
    return names


def export_remote_code(folder: str | os.PathLike) -> Dict[str, str]:
    """Add bundled code and ``auto_map`` entries to a saved model folder (``config.json`` present)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    config = read_json_file(config_path)
    from ..models import MODEL_TYPES

    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"{config_path}: model_type {model_type!r} is not an hf_genrec model type")
    config_class, model_class = MODEL_TYPES[model_type]
    config_module, model_module = config_class.__module__, model_class.__module__
    entries = {config_module: config_module.rsplit(".", 1)[1], model_module: model_module.rsplit(".", 1)[1],
               TOKENIZER_MODULE: TOKENIZER_MODULE.rsplit(".", 1)[1], PIPELINE_MODULE: PIPELINE_FILE}
    names = bundle_modules(folder, entries)
    config["auto_map"] = {"AutoConfig": f"{entries[config_module]}.{config_class.__name__}",
                          "AutoModel": f"{entries[model_module]}.{model_class.__name__}"}
    from ..pipelines import TASK

    # what transformers' Pipeline.save_pretrained records for a registered pipeline, pointing at the bundled file
    config["custom_pipelines"] = {TASK: {"impl": f"{PIPELINE_FILE}.RecommendationPipeline", "pt": ["AutoModel"]}}
    atomic_write_json(config_path, config)
    tokenizer_path = folder / "tokenizer_config.json"
    if tokenizer_path.exists():
        tokenizer_config = read_json_file(tokenizer_path)
        tokenizer_config["auto_map"] = {"AutoTokenizer": [f"{entries[TOKENIZER_MODULE]}.SIDTokenizer", None]}
        atomic_write_json(tokenizer_path, tokenizer_config)
    return names
