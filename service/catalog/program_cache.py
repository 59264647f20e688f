"""Public program documents an API process keeps for anonymous reads.

Most reads of `GET /programs/{id}` come without a key: families following a search hit
on a partner's site. Each API process keeps the documents of the public programs it has
read lately (least recently read dropped first) and serves such reads from memory,
without a round trip to PostgreSQL.

A kept document follows the catalog's change log, as this process's search index does
(service/search/follower.py): every step of the index's follower that applies changes
tells the cache which programs changed (`forget`), and a rebuild forgets everything. So
an anonymous read shows a program as this process's search results do: this process's
own catalog writes at once (the next read first catches up, as the next search does),
another process's within the poll interval (`search_poll_s`). Callers with a key (the
provider editing its program, staff) always read PostgreSQL, so nobody who writes sees
an older version than the one they wrote, nor an ETag that no longer matches.

A read that was in flight while the log named some program may have read it before the
change: it is not kept (`put` with the count of forgets it began under).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

Document = tuple[bytes, int]  # the program's JSON and its version (ETag)


class ProgramCache:
    """At most `size` public program documents, by program id."""

    def __init__(self, size: int, current: Callable[[], Awaitable[bool]]) -> None:
        """`current()` catches up with this process's own writes and says whether what
        is kept may be served (False while the change log is not being followed yet)."""
        self.size = size
        self.current = current
        self.forgets = 0  # how many times the log named programs: a read began under one
        self.hits = 0  # reads served from memory since the process started (/metrics)
        self.misses = 0
        self._kept: OrderedDict[uuid.UUID, Document] = OrderedDict()

    def get(self, program_id: uuid.UUID) -> Document | None:
        found = self._kept.get(program_id)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
            self._kept.move_to_end(program_id)
        return found

    def put(self, program_id: uuid.UUID, document: Document, began_under: int) -> None:
        """Keep a document read while `forgets` was `began_under`; a change named since
        may be newer than the read, so then it is not kept."""
        if began_under != self.forgets:
            return
        self._kept[program_id] = document
        self._kept.move_to_end(program_id)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def forget(self, program_ids: Sequence[uuid.UUID] | None) -> None:
        """The change log named these programs (None: the index was rebuilt, anything
        may have changed)."""
        self.forgets += 1
        if program_ids is None:
            self._kept.clear()
            return
        for program_id in program_ids:
            self._kept.pop(program_id, None)

    def __len__(self) -> int:
        return len(self._kept)
