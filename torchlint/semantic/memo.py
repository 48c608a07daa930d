"""Memoization with cycle handling: the evaluator's one way to compute anything once.

Every question the semantic layer answers (the value of a name, what a call returns,
the callers of a function, the role of a loop) is a `memo(table, key, compute)` entry.
A key met again while it is being computed (`x = x.to(d)`, recursive functions) is a
cycle: it is iterated to a fixed point at its head, a few times at most.
"""

from __future__ import annotations

from torchlint.semantic.values import EMPTY, UNKNOWN_SET

_MAX_STACK = 150


class Memo:
    """The memo tables and the bookkeeping of the cycles being resolved (a mixin of
    `Evaluator`)."""

    def __init__(self) -> None:
        self._tables: dict[str, dict] = {}
        self._stack: dict = {}
        self._seed: dict = {}
        self._provisional: dict = {}  # (table, key) -> (value, low): see memo()
        self._made_at: dict = {}  # stack depth -> [(table, key)] provisional values made there
        self._low = 1 << 30

    def memo(self, table: str, key, compute, empty=EMPTY):
        """compute() once per key. A key met again while it is being computed (a cycle)
        reads `empty`, then the value of the previous round, until the value at the head
        of the cycle settles. Values computed inside a cycle are kept provisionally for
        the current round (so that each is computed once per round, not once per path),
        and become final when the head of the cycle does."""
        cache = self._tables.setdefault(table, {})
        if key in cache:
            return cache[key]
        full_key = (table, key)
        provisional = self._provisional.get(full_key)
        if provisional is not None:
            self._low = min(self._low, provisional[1])
            return provisional[0]
        depth = self._stack.get(full_key)
        if depth is not None:
            self._low = min(self._low, depth)
            return self._seed.get(full_key, empty)
        if len(self._stack) >= _MAX_STACK:
            # Too deep to follow: an unknown value (sound, only less precise).
            return UNKNOWN_SET if empty is EMPTY else empty
        mine = len(self._stack)
        self._stack[full_key] = mine
        outer_low = self._low
        result = empty
        try:
            for _ in range(4):
                self._drop_provisional_below(mine)
                self._low = 1 << 30
                result = compute()
                if self._low == mine and result != self._seed.get(full_key, empty):
                    self._seed[full_key] = result  # a cycle through this key: another round
                    continue
                break
        finally:
            del self._stack[full_key]
            self._seed.pop(full_key, None)
        low = self._low
        self._low = min(outer_low, low)
        self._settle_provisional_below(mine, cache_of=self._tables)
        if low >= mine:
            cache[key] = result
        else:
            self._provisional[full_key] = (result, low)
            self._made_at.setdefault(mine, []).append(full_key)
        return result

    def _drop_provisional_below(self, depth: int) -> None:
        """A new round at `depth`: what was computed under it in the last round is stale."""
        for level in [d for d in self._made_at if d > depth]:
            for full_key in self._made_at.pop(level):
                self._provisional.pop(full_key, None)

    def _settle_provisional_below(self, depth: int, cache_of: dict) -> None:
        """The key at `depth` is done: values under it that depended on nothing further out
        are final; the others wait for the key they depend on, one level up."""
        for level in [d for d in self._made_at if d > depth]:
            for full_key in self._made_at.pop(level):
                entry = self._provisional.get(full_key)
                if entry is None:
                    continue
                if entry[1] >= depth:
                    del self._provisional[full_key]
                    cache_of[full_key[0]][full_key[1]] = entry[0]
                else:
                    self._made_at.setdefault(depth, []).append(full_key)
