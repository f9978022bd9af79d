"""YAML (and TOML) files read safely, every problem with its file:line.

The catalog, the team file and the config all come through here: unreadable or non-UTF-8 files,
duplicate keys (YAML would keep the later one silently), recursive aliases and alias bombs are
`CatalogError`s naming the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labctl.errors import CatalogError


def read_text(file: Path, what: str) -> str:
    """A YAML/TOML file's text: CatalogError for an unreadable or non-UTF-8 file (with its line)."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise CatalogError(
            f"cannot read {what} {file}: {exc.strerror or exc}",
            hint="pass --catalog FILE or set LABCTL_CATALOG" if what == "catalog" else None,
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogError(
            f"{file}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            hint="save the file as UTF-8",
        ) from None


class YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader; `load_yaml` adds the checks on the composed document."""


MAX_YAML_VALUES = 100_000  # aliases may not expand a document past this many values (a bomb)


def load_yaml(text: str, filename: str) -> Any:
    """Parse YAML safely: duplicate keys refused (not "the later wins"), aliases expanded at most
    to MAX_YAML_VALUES values (a 450-byte alias bomb fails at once), each problem with file:line."""
    loader = YamlLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_nodes(root, filename)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{where}: not valid YAML: {problem}") from None
    except RecursionError:
        raise CatalogError(f"{filename}: nested too deeply to be a catalog") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, filename: str) -> None:
    """Duplicate keys, recursive aliases and the expansion budget, over the composed nodes
    (an alias is the same node object again: sizes are summed once per node, iteratively)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            visiting.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_YAML_VALUES:
                raise CatalogError(
                    f"{filename}:{node.start_mark.line + 1}: aliases expand this document past "
                    f"{MAX_YAML_VALUES:,} values",
                    hint="write the values out; labctl accepts only small alias expansions",
                )
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise CatalogError(f"{filename}:{node.start_mark.line + 1}: a recursive alias")
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            _no_duplicate_keys(node, filename)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _no_duplicate_keys(node: yaml.MappingNode, filename: str) -> None:
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise CatalogError(
                f"{filename}:{line}: duplicate key '{key.value}' (first at line "
                f"{seen[key.value]}); YAML would silently keep only the later one",
                hint="remove or rename one of them",
            )
        seen[key.value] = line
