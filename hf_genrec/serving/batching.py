"""Dynamic batching: requests that arrive together are answered by one model call.

:class:`DynamicBatcher` keeps a queue of pending work items. Its collector task takes the first waiting item, then
keeps collecting until it holds ``max_batch_size`` items or ``max_wait_ms`` have passed since that first item, and
hands the batch to ``run_batch`` (a plain blocking function, e.g. one ``model.generate``) on a single worker
thread: the event loop keeps accepting requests meanwhile, and those queue up for the next batch. Every caller of
:meth:`DynamicBatcher.submit` gets its own result back (or the exception the batch raised).

``max_batch_size=1`` switches batching off (every item is a call of its own, on the same worker thread): the
baseline of ``scripts/bench_serve.py``. Pure asyncio; no web framework needed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple


class DynamicBatcher:
    """Collects :meth:`submit` calls into batches for ``run_batch(items) -> results`` (one result per item, in order).

    Use inside a running event loop: ``await batcher.start()`` ... ``await batcher.stop()`` (or ``async with``)."""

    def __init__(self, run_batch: Callable[[List[Any]], Sequence[Any]], max_batch_size: int = 32,
                 max_wait_ms: float = 5.0):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {max_wait_ms}")
        self.run_batch = run_batch
        self.max_batch_size = int(max_batch_size)
        self.max_wait_ms = float(max_wait_ms)
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self.batch_sizes: Counter = Counter()
        self.items = 0
        self.busy_seconds = 0.0

    @property
    def enabled(self) -> bool:
        """Whether several items can share a call."""
        return self.max_batch_size > 1

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> "DynamicBatcher":
        if self.running:
            return self
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-genrec-batch")
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="hf-genrec-batcher")
        return self

    async def stop(self) -> None:
        """Stop collecting; work still queued fails with ``RuntimeError``."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def __aenter__(self) -> "DynamicBatcher":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def submit(self, item: Any) -> Any:
        """Queue ``item`` and wait for its result."""
        if not self.running:
            raise RuntimeError("the batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def submit_many(self, items: Sequence[Any]) -> List[Any]:
        """Queue several items at once (they may share a batch with each other and with other callers)."""
        return list(await asyncio.gather(*(self.submit(item) for item in items)))

    def stats(self) -> Dict[str, Any]:
        """Calls made (``batches``), items answered, the batch-size histogram and the time spent in ``run_batch``."""
        batches = sum(self.batch_sizes.values())
        return {"batching": self.enabled, "max_batch_size": self.max_batch_size, "max_wait_ms": self.max_wait_ms,
                "batches": batches, "items": self.items,
                "mean_batch_size": round(self.items / batches, 3) if batches else 0.0,
                "largest_batch": max(self.batch_sizes, default=0),
                "batch_sizes": {str(size): count for size, count in sorted(self.batch_sizes.items())},
                "busy_seconds": round(self.busy_seconds, 4),
                "queued": self._queue.qsize() if self._queue is not None else 0}

    # ------------------------------------------------------------------ internals
    async def _next_batch(self) -> List[Tuple[Any, asyncio.Future]]:
        """The first waiting item, then whatever else arrives within ``max_wait_ms`` (at most ``max_batch_size``)."""
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_ms / 1000.0
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [(item, future) for item, future in batch if not future.done()]  # callers that gave up are dropped

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            items = [item for item, _ in batch]
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.run_batch, items)
                if len(results) != len(items):
                    raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
            except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                results, failure = None, error
            self.busy_seconds += time.perf_counter() - started
            self.batch_sizes[len(items)] += 1
            self.items += len(items)
            for index, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if results is None:
                    future.set_exception(failure)
                else:
                    future.set_result(results[index])
