import itertools

import pytest

from fusion.data import StepBatchSampler
from fusion.errors import InputError


def take(sampler, count):
    return list(itertools.islice(iter(sampler), count))


def test_resuming_at_a_step_continues_the_same_stream():
    straight = take(StepBatchSampler(23, 4, seed=5), 12)
    resumed = take(StepBatchSampler(23, 4, seed=5, start_step=7), 5)
    assert resumed == straight[7:]
    assert take(StepBatchSampler(23, 4, seed=6), 12) != straight


def test_each_epoch_visits_distinct_samples_with_new_keys():
    sampler = StepBatchSampler(10, 3, seed=0)  # 3 batches per epoch, one sample left out (drop_last)
    assert sampler.steps_per_epoch == 3
    batches = take(sampler, 6)
    for epoch in range(2):
        keys = [k for batch in batches[3 * epoch : 3 * epoch + 3] for k in batch]
        assert len(set(keys)) == 9 and all(10 * epoch <= k < 10 * (epoch + 1) for k in keys)


def test_ranks_split_the_single_process_batches():
    single = take(StepBatchSampler(40, 6, seed=2), 9)  # 6 steps per epoch: crosses an epoch boundary
    ranks = [take(StepBatchSampler(40, 3, seed=2, rank=r, world_size=2), 9) for r in range(2)]
    for step in range(9):
        assert set(ranks[0][step]).isdisjoint(ranks[1][step])
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(single[step])


def test_too_few_samples_is_an_error():
    with pytest.raises(InputError, match="too few for batches of 8 on 2 process"):
        StepBatchSampler(10, 8, world_size=2)
