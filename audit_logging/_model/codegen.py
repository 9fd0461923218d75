"""
Writes the factory modules from the event catalog: ``python -m audit_logging._model.codegen``.

The ``new_*`` factories and the typed ``*_t`` ones (the package
:mod:`audit_logging._model.factories`) are source code derived from
:class:`~audit_logging._model.catalog.EventType`; why they are written out rather
than built at import is said in :mod:`audit_logging._model.catalog`. Each function
is what one would write by hand: build the payload, call
:func:`~audit_logging._model.event.new_event`. Each module's ``__all__`` is a
literal list, so type checkers see every factory through the star imports of the
public faces. The output is formatted by ruff (a development dependency) so that
it passes ``ruff format --check`` as it is.

The command imports the package, so the modules on disk must still import when
it runs; they do after any change to the catalog but the removal of a conversion
they call.

``tests/model/test_catalog.py`` compares the checked-in modules with
:func:`sources` (as syntax trees, so formatting does not matter) and fails when
the catalog changed without the modules being written again.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from audit_logging._model.catalog import Entry, EventType, Field

__all__ = ["DOMAIN", "HUB", "LOGS", "PLATFORM", "TYPED", "main", "sources"]

_PACKAGE = Path(__file__).with_name("factories")
HUB = _PACKAGE / "__init__.py"
"""Every ``new_*`` factory, from the two modules below, and ``Duration``."""
PLATFORM = _PACKAGE / "platform.py"
"""The ``new_*`` factories of the HTTP, auth and database events."""
DOMAIN = _PACKAGE / "domain.py"
"""The ``new_*`` factories of the application's records: work items, users, teams."""
_PLATFORM_PREFIXES = ("http_", "auth_", "db_")
LOGS = _PACKAGE / "logs.py"
"""The ``new_*`` factories of the log types (``new_info`` builds ``log_info``)."""
TYPED = _PACKAGE / "typed.py"
"""The typed ``*_t`` factories and the payload dataclasses they return."""

_GENERATED = """
Generated from the event catalog (:mod:`audit_logging._model.catalog`) by
``python -m audit_logging._model.codegen``: change the catalog, not this file.
"""

_UNTYPED = """
Each factory takes the payload's values after ``source``; the context id and the
OpenTelemetry span come from the current context, and the keyword ``context_id=``
overrides the id. The payload is a fresh dict with exactly the keys of the type's
registered schema, so an event built here passes validation when given the
documented argument types; how durations, errors and maps are converted is said in
:mod:`audit_logging._model.conversions`. A factory runs on every audited action, so
it builds its dict and calls :func:`~audit_logging._model.event.new_event`, nothing more.
"""

_DOCS = {
    HUB: "The ``new_<type>`` factories, one per predefined event type, and their ``Duration``.\n"
    + _GENERATED
    + """
The factories are split by family only to keep each module short: ``platform``
(HTTP, auth, database), ``domain`` (work items, comments, attachments, users, teams)
and ``logs`` (the log types, which drop the ``log_`` prefix: ``new_info`` builds
``log_info``). The typed ``*_t`` factories
are in ``typed``.
""",
    PLATFORM: "The factories of the HTTP, auth and database events.\n" + _GENERATED + _UNTYPED,
    DOMAIN: "The factories of the application's records: work items, users, teams.\n"
    + _GENERATED
    + _UNTYPED,
    LOGS: "The factories of the log events, which drop the ``log_`` prefix (``new_info``).\n"
    + _GENERATED
    + _UNTYPED,
    TYPED: "The typed factories: ``new_<type>_t`` returns ``Event[<payload dataclass>]``.\n"
    + _GENERATED
    + """
Each takes the same arguments as its ``new_<type>`` and converts them the same way;
the payload is the frozen dataclass of :mod:`audit_logging._model.payloads`, whose
fields are the dict payload's keys, so the registered schema validates it and the
JSON line is the same. The dataclasses are exported from here too, so that this
module is all that :mod:`audit_logging.payloads` shows.
""",
}
"""The docstring of each generated module."""

# Where the names a factory's annotations and body use come from; the conversions
# and payload classes are found from the objects themselves.
_FIXED_IMPORTS = {
    "Mapping": "collections.abc",
    "Any": "typing",
    "Duration": "audit_logging._model.conversions",
    "Event": "audit_logging._model.event",
    "new_event": "audit_logging._model.event",
}


def _value(field: Field) -> str:
    """
    The expression that turns the field's argument into its payload value.
    """
    arg, convert = field.arg_name, field.kind.convert
    if convert is None:
        return arg
    if field.kind.named:
        return f'{convert.__name__}({arg}, "{arg}")'
    return f"{convert.__name__}({arg})"


def _typed_payload(made: Entry, typed: type) -> str:
    """
    The dataclass construction: positional in the class's field order, by keyword
    after the first class field the payload does not set (it keeps its default).
    """
    values = {f.key: _value(f) for f in made.fields}
    parts: list[str] = []
    by_keyword = False
    for name in (f.name for f in dataclasses.fields(typed)):
        if name not in values:
            by_keyword = True
        elif by_keyword:
            parts.append(f"{name}={values[name]}")
        else:
            parts.append(values[name])
    return f"{typed.__name__}({', '.join(parts)})"


def _function(made: Entry, typed: type | None = None) -> tuple[str, str]:
    """
    The name and source of one factory: the typed one when ``typed`` is given.
    """
    params = ["source: str"]
    for f in made.args:
        params.append(f"{f.arg_name}: {f.kind.annotation}" + (" = None" if f.optional else ""))
    params += ["*", "context_id: str | None = None"]
    if typed is None:
        name, doc, returns = made.factory_name, made.doc, "Event[dict[str, Any]]"
        payload = "{" + ", ".join(f'"{f.key}": {_value(f)}' for f in made.fields) + "}"
    else:
        name, doc = f"{made.factory_name}_t", f"Typed :func:`{made.factory_name}`."
        returns, payload = f"Event[{typed.__name__}]", _typed_payload(made, typed)
    return name, (
        f"def {name}({', '.join(params)}) -> {returns}:\n"
        f'    """\n    {doc}\n    """\n'
        f'    return new_event("{made.event_type}", source, {payload}, context_id=context_id)\n'
    )


def _origins() -> dict[str, str]:
    """
    The module of each conversion and payload class some factory uses.
    """
    found = dict(_FIXED_IMPORTS)
    for made in (t.entry for t in EventType):
        for f in made.fields:
            if f.kind.convert is not None:
                found[f.kind.convert.__name__] = f.kind.convert.__module__
        if made.typed is not None:
            found[made.typed.__name__] = made.typed.__module__
    return found


def _sorted(names: Iterable[str]) -> list[str]:
    """
    isort's order, which ruff checks in imports and ``__all__``: constants, classes, the rest.
    """
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))


def _imports(by_module: dict[str, list[str]]) -> str:
    """
    The import blocks: ``__future__``, the standard library, then the package's own.
    """
    lines = {m: f"from {m} import {', '.join(_sorted(names))}\n" for m, names in by_module.items()}
    stdlib = [lines[m] for m in sorted(lines) if not m.startswith("audit_logging")]
    ours = [lines[m] for m in sorted(lines) if m.startswith("audit_logging")]
    blocks = ["from __future__ import annotations\n", "".join(stdlib), "".join(ours)]
    return "\n".join(b for b in blocks if b)


def _module(path: Path, imports: str, exported: Iterable[str], body: str = "") -> str:
    """
    A whole module: docstring, imports, a literal ``__all__``, the functions.
    """
    names = "".join(f'    "{name}",\n' for name in _sorted(exported))
    text = f'"""\n{_DOCS[path]}"""\n\n{imports}\n__all__ = [\n{names}]\n'
    return text + (f"\n\n{body}" if body else "")


def _functions_module(path: Path, functions: list[tuple[str, str]], typed: bool = False) -> str:
    """
    A module of factories, importing exactly the names their source uses.
    """
    body = "\n\n".join(source for _, source in functions)
    used = {n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name)}
    origins = _origins()
    by_module: dict[str, list[str]] = {}
    for name in sorted(used & origins.keys()):
        by_module.setdefault(origins[name], []).append(name)
    exported = [name for name, _ in functions]
    if typed:
        exported += by_module.get("audit_logging._model.payloads", [])
    return _module(path, _imports(by_module), exported, body)


def sources() -> dict[Path, str]:
    """
    The source of each generated module, before formatting.
    """
    entries = [t.entry for t in EventType]
    platform = [_function(e) for e in entries if e.event_type.startswith(_PLATFORM_PREFIXES)]
    domain = [
        _function(e)
        for e in entries
        if not e.is_log and not e.event_type.startswith(_PLATFORM_PREFIXES)
    ]
    logs = [_function(e) for e in entries if e.is_log]
    typed = [_function(e, e.typed) for e in entries if e.typed is not None]
    package = "audit_logging._model.factories"
    hub_imports = _imports(
        {
            "audit_logging._model.conversions": ["Duration"],
            f"{package}.{PLATFORM.stem}": [name for name, _ in platform],
            f"{package}.{DOMAIN.stem}": [name for name, _ in domain],
            f"{package}.{LOGS.stem}": [name for name, _ in logs],
        }
    )
    return {
        HUB: _module(
            HUB, hub_imports, ["Duration", *(name for name, _ in platform + domain + logs)]
        ),
        PLATFORM: _functions_module(PLATFORM, platform),
        DOMAIN: _functions_module(DOMAIN, domain),
        LOGS: _functions_module(LOGS, logs),
        TYPED: _functions_module(TYPED, typed, typed=True),
    }


def _formatted(path: Path, source: str) -> str:
    """
    ``source`` as ``ruff format`` writes it, with the repository's settings.
    """
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ruff format failed (pip install -e '.[dev]'?): {done.stderr.strip()}")
    return done.stdout


def main() -> None:
    """
    Write every generated module.
    """
    for path, source in sources().items():
        path.write_text(_formatted(path, source), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
