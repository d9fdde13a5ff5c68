"""One shard of a data set: ``dataset.shard=I dataset.num_shards=N`` explains a stable, balanced 1/N of its clips.

Clip k of the data set's list (name order, after ``clips`` and ``limit``) belongs to shard k mod N: the
shards' sizes differ by at most one clip, consecutive clips (often of one class, named ``<label>-...``)
land in different shards, and the split depends only on that list, so it is the same on every machine
and after a rerun, as long as the folder holds the same clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from videoattr.errors import VideoAttrError

T = TypeVar("T")


def shard_of(items: Sequence[T], shard: int | None, num_shards: int) -> list[T]:
    """The items of shard ``shard`` of ``num_shards`` (all of them when ``shard`` is None)."""
    if shard is None:
        return list(items)
    if len(items) < num_shards:
        raise VideoAttrError(
            f"dataset.num_shards={num_shards} is more than the {len(items)} clip(s) of the data set: "
            f"use dataset.num_shards={max(1, len(items))} or fewer."
        )
    return list(items[shard::num_shards])
