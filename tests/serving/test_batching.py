"""The dynamic batcher alone (no model, no web framework): batch limits, per-caller results, failures, and an
event loop that keeps running while a batch is being computed."""

import asyncio
import threading
import time

import pytest

from hf_genrec.serving.batching import DynamicBatcher


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_items_are_batched_and_answered_in_order():
    calls = []

    def square(items):
        calls.append(list(items))
        return [x * x for x in items]

    async def main():
        async with DynamicBatcher(square, max_batch_size=4, max_wait_ms=50) as batcher:
            results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
            return results, batcher.stats()

    results, stats = run(main())
    assert results == [i * i for i in range(10)]
    assert all(len(batch) <= 4 for batch in calls) and sorted(x for b in calls for x in b) == list(range(10))
    assert stats["items"] == 10 and stats["batches"] == len(calls) <= 4 and stats["largest_batch"] == 4


def test_batch_size_one_is_no_batching():
    async def main():
        async with DynamicBatcher(lambda items: [x + 1 for x in items], max_batch_size=1, max_wait_ms=50) as b:
            results = await b.submit_many(list(range(5)))
            return results, b.stats()

    results, stats = run(main())
    assert results == [1, 2, 3, 4, 5]
    assert stats["batching"] is False and stats["batches"] == 5 and stats["batch_sizes"] == {"1": 5}


def test_a_failing_batch_fails_its_callers_only():
    def fragile(items):
        if "bad" in items:
            raise RuntimeError("boom")
        return items

    async def main():
        async with DynamicBatcher(fragile, max_batch_size=8, max_wait_ms=0) as batcher:
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.submit("bad")
            return await batcher.submit("good")

    assert run(main()) == "good"


def test_the_event_loop_stays_responsive_while_a_batch_runs():
    worker = []

    def slow(items):
        worker.append(threading.current_thread().name)
        time.sleep(0.3)
        return items

    async def main():
        async with DynamicBatcher(slow, max_batch_size=2, max_wait_ms=0) as batcher:
            pending = asyncio.ensure_future(batcher.submit(1))
            await asyncio.sleep(0.05)  # the batch is running now
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            ticked = time.perf_counter() - started
            return await pending, ticked

    result, ticked = run(main())
    assert result == 1 and ticked < 0.2 and worker[0].startswith("hf-genrec-batch")


def test_invalid_settings_and_not_running():
    with pytest.raises(ValueError, match="max_batch_size"):
        DynamicBatcher(list, max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        DynamicBatcher(list, max_wait_ms=-1)
    with pytest.raises(RuntimeError, match="not running"):
        run(DynamicBatcher(list).submit(1))
