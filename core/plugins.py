"""What installed plugins declare through entry points (family cards, tasks), loaded alike."""

from __future__ import annotations

from typing import TypeVar

from vzoo.core.errors import VzooError

Declared = TypeVar("Declared")


def entry_point_objects(group: str, kind: str, expected: type[Declared]) -> list[Declared]:
    """The object each entry point of `group` names, which must be an `expected`; a plugin that
    fails to load or names something else is one `VzooError` naming it (`kind`: "family")."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin is named, not a traceback
            raise VzooError(f"{kind} plugin '{ep.name}' ({ep.value}) failed to load: {e}") from e
        if not isinstance(obj, expected):
            raise VzooError(
                f"{kind} plugin '{ep.name}' ({ep.value}) is not a vzoo {expected.__name__}"
            )
        found.append(obj)
    return found
