"""A study file's text and ``--set`` overrides: reading, checking and applying them needs only
YAML, so a missing file, a syntax error or a bad --set is reported before any training library
is imported."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lossbench.core.errors import LossbenchError

#: a study file is a page of settings: larger files, or deeper nesting, are not one
MAX_BYTES = 1 << 20
MAX_DEPTH = 50


def read_study_file(path: str | Path) -> Any:
    """The YAML of a study file, or one LossbenchError line: not found, not UTF-8 text, a syntax
    error, nesting deeper than MAX_DEPTH, or a key given twice in one mapping (YAML keeps the
    last silently: a second ``training:`` or two conditions of one name would overwrite each other)."""
    source = str(path)
    path = Path(path)
    if not path.is_file():
        raise LossbenchError(f"{source}: study file not found")
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise LossbenchError(f"{source}: {len(data):,} bytes; a study file is a YAML page of settings (at most "
                             f"{MAX_BYTES:,} bytes): is this the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LossbenchError(f"{source}: not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}); save the study "
                             f"file as UTF-8") from None
    if "\x00" in text:
        raise LossbenchError(f"{source}: not UTF-8 text (it holds NUL bytes: a binary file?); save the study file as UTF-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_node(node, source, "", 0)
        return yaml.safe_load(text)
    except RecursionError:
        raise LossbenchError(f"{source}: nests too deeply for a study file (more than {MAX_DEPTH} levels)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise LossbenchError(f"{source}: {where}YAML syntax error: {problem}") from None


def _check_node(node, source: str, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LossbenchError(f"{source}: line {node.start_mark.line + 1}: nests too deeply for a study file "
                             f"(more than {MAX_DEPTH} levels)")
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            path = f"{where}.{name}" if where else str(name)
            if name is not None and name in seen:
                raise LossbenchError(f"{source}: line {key.start_mark.line + 1}: {path}: appears twice (line "
                                     f"{seen[name] + 1} too); YAML would keep only the last; remove or rename one")
            if name is not None:
                seen[name] = key.start_mark.line
            _check_node(value, source, path, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_node(item, source, f"{where}[{i}]", depth + 1)


def override_items(overrides) -> list[str]:
    """``--set`` strings from a list of 'key=value' strings or a mapping {'training.lr': 1e-3}."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]  # JSON is YAML
    if isinstance(overrides, str):
        return [overrides]
    return list(overrides)


def apply_override(raw: dict, item: str, source: str) -> None:
    """``--set a.b.c=VALUE``: VALUE parsed as YAML; numeric parts index lists (models.0.latent_dim)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise LossbenchError(f"--set: expected KEY=VALUE, e.g. training.epochs=2 (got '{item}')")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise LossbenchError(f"--set {key}: value is not valid YAML: {text!r}") from None
    parts = key.strip().split(".")
    node: Any = raw
    for i, name in enumerate(parts):
        last = i == len(parts) - 1
        part: str | int = name
        if isinstance(node, list):
            if not name.isdigit() or int(name) >= len(node):
                raise LossbenchError(f"--set {key}: '{name}' is not an index of the {len(node)}-item list {'.'.join(parts[:i])}")
            part = int(name)
        elif not isinstance(node, dict):
            raise LossbenchError(f"--set {key}: {'.'.join(parts[:i])} is not a mapping")
        if last:
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]
