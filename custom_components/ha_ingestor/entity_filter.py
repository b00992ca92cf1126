"""Which entities are ingested: include/exclude by domain, entity, glob, label and area.

Decisions are cached per entity id and recomputed only when the registry metadata changes,
so the bus listener pays one dict lookup per event.

Precedence, most specific first:

1. an entity listed in *exclude entities* is out;
2. an entity listed in *include entities* is in;
3. an entity matching any exclude rule (domain, glob, label, area) is out;
4. with no include rules everything else is in; with include rules, only matches are in.

The integration's own entities are not ours to count unless the user asks for them: they are
neither received nor filtered (``Verdict.OWN``), so the counters read the user's data only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
import fnmatch
import re


@dataclass(frozen=True, slots=True)
class FilterRules:
    include_domains: frozenset[str] = frozenset()
    include_entities: frozenset[str] = frozenset()
    include_globs: tuple[str, ...] = ()
    include_labels: frozenset[str] = frozenset()
    include_areas: frozenset[str] = frozenset()
    exclude_domains: frozenset[str] = frozenset()
    exclude_entities: frozenset[str] = frozenset()
    exclude_globs: tuple[str, ...] = ()
    exclude_labels: frozenset[str] = frozenset()
    exclude_areas: frozenset[str] = frozenset()

    @property
    def has_includes(self) -> bool:
        return bool(
            self.include_domains
            or self.include_entities
            or self.include_globs
            or self.include_labels
            or self.include_areas
        )


@dataclass(frozen=True, slots=True)
class EntityPlacement:
    """What the filter needs to know about an entity from the registries."""

    area_id: str | None = None
    label_ids: frozenset[str] = frozenset()
    own: bool = False


def _compile_globs(globs: Iterable[str]) -> re.Pattern[str] | None:
    patterns = [fnmatch.translate(g) for g in globs if g]
    return re.compile("|".join(patterns)) if patterns else None


class Verdict(IntEnum):
    INGEST = 0
    FILTERED = 1
    OWN = 2  # one of HA Ingestor's own entities, not asked for: ignored, not counted


class EntityFilter:
    """Callable filter with a per-entity decision cache."""

    def __init__(
        self,
        rules: FilterRules,
        placement: Callable[[str], EntityPlacement],
        include_own: bool = False,
    ) -> None:
        self._rules = rules
        self._placement = placement
        self._include_own = include_own
        self._include_glob = _compile_globs(rules.include_globs)
        self._exclude_glob = _compile_globs(rules.exclude_globs)
        self._cache: dict[str, Verdict] = {}

    @property
    def verdicts(self) -> Mapping[str, Verdict]:
        """The cached decisions (the same mapping for the filter's life, emptied when
        invalidated): a hot caller reads it and calls the filter only on a miss."""
        return self._cache

    def invalidate(self) -> None:
        """Forget cached decisions (registry metadata changed)."""
        self._cache.clear()

    def __call__(self, entity_id: str) -> Verdict:
        decision = self._cache.get(entity_id)
        if decision is None:
            decision = self._cache[entity_id] = self._decide(entity_id)
        return decision

    def _decide(self, entity_id: str) -> Verdict:
        rules = self._rules
        if entity_id in rules.include_entities and entity_id not in rules.exclude_entities:
            return Verdict.INGEST
        place = self._placement(entity_id)
        if place.own and not self._include_own:
            return Verdict.OWN
        return Verdict.INGEST if self._matches(entity_id, place) else Verdict.FILTERED

    def _matches(self, entity_id: str, place: EntityPlacement) -> bool:
        rules = self._rules
        if entity_id in rules.exclude_entities:
            return False
        domain = entity_id.partition(".")[0]
        if (
            domain in rules.exclude_domains
            or (self._exclude_glob is not None and self._exclude_glob.match(entity_id))
            or (place.area_id is not None and place.area_id in rules.exclude_areas)
            or not place.label_ids.isdisjoint(rules.exclude_labels)
        ):
            return False
        if not rules.has_includes:
            return True
        return bool(
            domain in rules.include_domains
            or (self._include_glob is not None and self._include_glob.match(entity_id))
            or (place.area_id is not None and place.area_id in rules.include_areas)
            or not place.label_ids.isdisjoint(rules.include_labels)
        )
