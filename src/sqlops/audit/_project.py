"""Facts that cross file boundaries: factories, providers, repository attributes.

``get_db`` is defined in ``deps.py`` and used as ``Depends(get_db)`` in ``routes.py``;
``SessionLocal`` is built in ``database.py`` and opened in ``services.py``. The
project collects such facts from every scanned file before any rule runs. Names
are matched by their last component; a name that means two different things in
two files means nothing (precision first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlops.audit._kinds import Kind

if TYPE_CHECKING:
    from sqlops.audit._statements import Sink

T = TypeVar("T")


@dataclass(frozen=True)
class Provider:
    """Describe a function that hands out a session, connection, engine or factory."""

    kind: Kind
    is_async: bool
    is_generator: bool


class Facts(Generic[T]):
    """Map names to facts; a name learnt twice with different facts becomes unknown."""

    def __init__(self) -> None:
        self._facts: dict[str, T | None] = {}

    def learn(self, name: str, fact: T | None) -> None:
        """Record a fact, turning a conflicting one into ``None``."""
        if name in self._facts and self._facts[name] != fact:
            self._facts[name] = None
        else:
            self._facts[name] = fact

    def get(self, name: str) -> T | None:
        """Return the fact for a name, or ``None``."""
        return self._facts.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._facts

    def __len__(self) -> int:
        return len(self._facts)

    def clear(self) -> None:
        """Forget every fact (to learn them again with more known)."""
        self._facts.clear()

    def names(self) -> list[str]:
        """Return every name learnt (known or poisoned)."""
        return list(self._facts)


@dataclass
class ClassFacts:
    """Remember a class's bases and the kinds of its attributes."""

    bases: set[str] = field(default_factory=set)
    attrs: Facts[Kind] = field(default_factory=Facts)


class Project:
    """Hold the facts learnt from all scanned files."""

    def __init__(self) -> None:
        self.values: Facts[Kind] = Facts()
        self.aliases: Facts[Kind] = Facts()
        self.functions: Facts[Provider] = Facts()
        self.methods: Facts[Provider] = Facts()
        self.fixtures: Facts[Kind] = Facts()
        self.classes: dict[str, ClassFacts] = {}
        self.collections: set[tuple[str, str]] = set()
        self.relationships: Facts[str] = Facts()  # "Class.attr" -> loader strategy
        self.constants: set[tuple[str, str]] = set()  # class attributes typed as numbers
        self._relationship_names: frozenset[str] | None = None
        self._relationship_count = 0
        self.dependencies: set[str] = set()
        self.sinks: Facts[Sink] = Facts()  # functions that execute and list a statement
        self.method_sinks: Facts[Sink] = Facts()

    def value(self, name: str) -> Kind | None:
        """Return the kind of a module-level name defined in some scanned file."""
        return self.values.get(name)

    def alias(self, name: str) -> Kind | None:
        """Return the kind a type alias (``SessionDep``) stands for."""
        return self.aliases.get(name)

    def provider(self, name: str, *, method: bool = False) -> Provider | None:
        """Return what the function (or, with ``method``, the method) ``name`` provides.

        Functions and methods are kept apart so that the builtin ``next(...)`` is
        never mistaken for some class's ``def next(self) -> Engine``.
        """
        return (self.methods if method else self.functions).get(name) if name else None

    def sink(self, name: str, *, method: bool = False) -> Sink | None:
        """Return which parameters the function (or method) ``name`` executes and lists."""
        return (self.method_sinks if method else self.sinks).get(name)

    def relationship(self, class_name: str, attr: str) -> str | None:
        """Return the loader strategy of ``Class.attr`` (``"select"`` = lazy), bases included."""
        seen: set[str] = set()
        pending = [class_name]
        while pending:
            name = pending.pop(0)
            if name in seen:
                continue
            seen.add(name)
            found = f"{name}.{attr}"
            if found in self.relationships:
                return self.relationships.get(found)
            facts = self.classes.get(name)
            if facts is not None:
                pending.extend(sorted(facts.bases))
        return None

    def lineage(self, class_name: str) -> list[str]:
        """Return a class and its known base classes, nearest first."""
        seen: list[str] = []
        pending = [class_name]
        while pending:
            name = pending.pop(0)
            if name not in seen:
                seen.append(name)
                facts = self.classes.get(name)
                if facts is not None:
                    pending.extend(sorted(facts.bases))
        return seen

    @property
    def relationship_names(self) -> frozenset[str]:
        """Return every attribute name some scanned model declares as a relationship."""
        if self._relationship_names is None or self._relationship_count != len(self.relationships):
            names = (fact.rsplit(".", 1)[-1] for fact in self.relationships.names())
            self._relationship_names = frozenset(names)
            self._relationship_count = len(self.relationships)
        return self._relationship_names

    def class_facts(self, name: str) -> ClassFacts:
        """Return (creating) the facts of a class."""
        return self.classes.setdefault(name, ClassFacts())

    def attribute(self, class_name: str, attr: str) -> Kind | None:
        """Return the kind of ``instance.attr``, searching base classes too."""
        seen: set[str] = set()
        pending = [class_name]
        while pending:
            name = pending.pop(0)
            facts = self.classes.get(name)
            if facts is None or name in seen:
                continue
            seen.add(name)
            if attr in facts.attrs:
                return facts.attrs.get(attr)
            pending.extend(sorted(facts.bases))
        return None
