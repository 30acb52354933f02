"""Batches of sample keys that are pure functions of ``(seed, step, rank)``: resumable and distributed.

:class:`StepBatchSampler` wraps :class:`torch.utils.data.DistributedSampler` (one replica in a single
process): epoch ``e`` is its shuffled shard for ``set_epoch(e)``, cut into batches; batch ``s`` of a
rank is batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``, with keys
``e * len(dataset) + index`` (see :mod:`fusion.data.base`). Resuming at step ``s`` therefore starts with
exactly the batch an uninterrupted run would have drawn, with no data read to skip ahead.

Across ranks the shards of one epoch are disjoint, and the union of the ranks' batch ``s`` is the
batch ``s`` a single process would draw with ``world_size`` times the batch size.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DistributedSampler, Sampler

from fusion.errors import InputError


class StepBatchSampler(Sampler[list[int]]):
    """An endless stream of batches (lists of sample keys) from ``start_step`` on.

    Args:
        size: ``len(dataset)``. batch_size: samples per batch and rank.
        seed: shuffling seed. rank, world_size: this process among the data-parallel ones.
        start_step: the first batch to yield (a resumed run's step). shuffle: permute each epoch.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        shuffle: bool = True,
    ):
        self.size, self.batch_size, self.start_step = int(size), int(batch_size), int(start_step)
        self.shard = DistributedSampler(
            range(self.size), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=True
        )
        self.steps_per_epoch = len(self.shard) // self.batch_size
        if self.steps_per_epoch < 1:
            raise InputError(
                f"the dataset has {self.size} samples: too few for batches of {self.batch_size} on "
                f"{world_size} process(es) (lower train.batch_size or raise data.args.samples_per_image)"
            )
        self._epoch, self._order = None, []

    def batch(self, step: int) -> list[int]:
        """The keys of batch ``step``."""
        epoch, offset = divmod(int(step), self.steps_per_epoch)
        if epoch != self._epoch:
            self.shard.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self.shard)
        chunk = self._order[offset * self.batch_size : (offset + 1) * self.batch_size]
        return [epoch * self.size + index for index in chunk]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1

    def __len__(self) -> int:  # DataLoader asks; the stream itself is endless
        return self.steps_per_epoch
