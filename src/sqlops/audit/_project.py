"""Facts that cross file boundaries: factories, providers, repository attributes.

``get_db`` is defined in ``deps.py`` and used as ``Depends(get_db)`` in ``routes.py``;
``SessionLocal`` is built in ``database.py`` and opened in ``services.py``. The
project collects such facts from every scanned file before any rule runs. Names
are matched by their last component; a name that means two different things in
two files means nothing (precision first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlops.audit._journal import Journal
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
    members: Facts[str] = field(default_factory=Facts)  # ``self.repo`` -> "UserRepository"


class Project(Journal):
    """Hold the facts learnt from all scanned files.

    Learning steps read facts through the methods below and write them through
    `learn`, `learn_attr`, `add`, `add_base` and `class_facts`, so that a step can
    be recorded and replayed without its file's tree (see `Journal`).
    """

    def __init__(self) -> None:
        super().__init__()
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
        self.next_sinks: Facts[Sink] = Facts()  # being learnt from ``sinks``
        self.next_method_sinks: Facts[Sink] = Facts()

    # -- readers (recorded while a step is recorded) -----------------------

    def value(self, name: str) -> Kind | None:
        """Return the kind of a module-level name defined in some scanned file."""
        return self._read("value", (name,), self.values.get(name))  # type: ignore[no-any-return]

    def _value(self, name: str) -> Kind | None:
        return self.values.get(name)

    def alias(self, name: str) -> Kind | None:
        """Return the kind a type alias (``SessionDep``) stands for."""
        return self._read("alias", (name,), self.aliases.get(name))  # type: ignore[no-any-return]

    def _alias(self, name: str) -> Kind | None:
        return self.aliases.get(name)

    def fixture(self, name: str) -> Kind | None:
        """Return what the pytest fixture ``name`` provides."""
        return self._read("fixture", (name,), self.fixtures.get(name))  # type: ignore[no-any-return]

    def _fixture(self, name: str) -> Kind | None:
        return self.fixtures.get(name)

    def provider(self, name: str, *, method: bool = False) -> Provider | None:
        """Return what the function (or, with ``method``, the method) ``name`` provides.

        Functions and methods are kept apart so that the builtin ``next(...)`` is
        never mistaken for some class's ``def next(self) -> Engine``.
        """
        answer = self._provider(name, method)
        return self._read("provider", (name, method), answer)  # type: ignore[no-any-return]

    def _provider(self, name: str, method: bool) -> Provider | None:
        return (self.methods if method else self.functions).get(name) if name else None

    def sink(self, name: str, *, method: bool = False) -> Sink | None:
        """Return which parameters the function (or method) ``name`` executes and lists."""
        return self._read("sink", (name, method), self._sink(name, method))  # type: ignore[no-any-return]

    def _sink(self, name: str, method: bool) -> Sink | None:
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

    def attribute(self, class_name: str, attr: str) -> Kind | None:
        """Return the kind of ``instance.attr``, searching base classes too."""
        answer = self._attribute(class_name, attr)
        return self._read("attribute", (class_name, attr), answer)  # type: ignore[no-any-return]

    def member_class(self, class_name: str, attr: str) -> str | None:
        """Return the class of ``instance.attr`` (``self.repo: UserRepository``), bases too."""
        answer = self._member_class(class_name, attr)
        return self._read("member_class", (class_name, attr), answer)  # type: ignore[no-any-return]

    def _member_class(self, class_name: str, attr: str) -> str | None:
        for name in self.lineage(class_name):
            facts = self.classes.get(name)
            if facts is not None and attr in facts.members:
                return facts.members.get(attr)
        return None

    # -- writers (recorded, and undone when a replay or speculation fails) --

    def class_facts(self, name: str) -> ClassFacts:
        """Return (creating) the facts of a class."""
        facts = self.classes.get(name)
        if facts is None:
            facts = self.classes[name] = ClassFacts()
            self._wrote(("class_facts", name), partial(self.classes.pop, name, None))
        return facts

    def learn(self, slot: str, name: str, fact: object) -> None:
        """Learn ``name`` in one table of facts (``"values"``, ``"functions"``, ...)."""
        self._learn_in(getattr(self, slot), name, fact, ("learn", slot, name, fact))

    def learn_attr(self, class_name: str, attr: str, fact: Kind | None) -> None:
        """Learn the kind of ``instance.attr`` for one class."""
        facts = self.class_facts(class_name).attrs
        self._learn_in(facts, attr, fact, ("learn_attr", class_name, attr, fact))

    def _learn_in(self, facts: Facts[Any], name: str, fact: object, event: tuple[Any, ...]) -> None:
        table = facts._facts
        had, old = name in table, table.get(name)
        self._wrote(event, lambda: table.__setitem__(name, old) if had else table.pop(name, None))
        facts.learn(name, fact)

    def learn_member(self, class_name: str, attr: str, member: str | None) -> None:
        """Learn the class of ``instance.attr`` for one class."""
        facts = self.class_facts(class_name).members
        self._learn_in(facts, attr, member, ("learn_member", class_name, attr, member))

    def add(self, slot: str, item: Any) -> None:
        """Add one item to a set of facts (``"dependencies"``, ``"collections"``...)."""
        self._add_to(getattr(self, slot), item, ("add", slot, item))

    def add_base(self, class_name: str, base: str) -> None:
        """Record that ``class_name`` derives from ``base``."""
        self._add_to(self.class_facts(class_name).bases, base, ("add_base", class_name, base))

    def _add_to(self, found: set[Any], item: Any, event: tuple[Any, ...]) -> None:
        new = item not in found
        self._wrote(event, (lambda: found.discard(item)) if new else None)
        found.add(item)

    def swap_sinks(self) -> None:
        """Make the helpers just learnt the known ones, and start a fresh table."""
        self.sinks, self.next_sinks = self.next_sinks, Facts()
        self.method_sinks, self.next_method_sinks = self.next_method_sinks, Facts()

    def _attribute(self, class_name: str, attr: str) -> Kind | None:
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
