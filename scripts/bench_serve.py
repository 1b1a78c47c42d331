"""Benchmark: ``hf-genrec serve`` under concurrent load, dynamic batching on vs off, side by side in one run.

Starts two servers of the same model folder on loopback (free ports): one batching (``--max-batch-size``,
``--max-wait-ms``) and one with ``--no-batching``, each ``hf-genrec serve`` in a process of its own. Then, for
``--rounds`` rounds, alternately fires ``--requests`` requests at each (at most ``--concurrency`` in flight, an
``httpx`` async client; the same seeded histories for both) and records every request's latency. Reports the
throughput (requests/s), the latency percentiles (p50/p90/p99), their ratios, how the batching server batched
(``/stats``), and whether both servers ranked every history the same; writes ``summary.json`` and ``serve_bench.png``
into ``--out``.

Without ``--model`` it builds a random TIGER folder first (``--items`` items, 3 SID levels): untrained weights
rank nonsense, but cost the same to run as trained ones.

Usage: .venv/bin/python scripts/bench_serve.py [--model runs/.../model] [--requests 400] [--concurrency 32]
       [--rounds 2] [--out runs/bench_serve]
"""

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = {"batching": [], "no batching": ["--no-batching"]}


def build_random_tiger(folder: Path, num_items: int, hidden_size: int = 256, layers: int = 4, seed: int = 0) -> Path:
    """A random-weight TIGER (``layers`` + ``layers`` T5 layers of width ``hidden_size``, 4 heads, d_ff 4x) over
    ``num_items`` random 3-level SIDs of 64 codes."""
    import torch

    from hf_genrec.hub import save_model_folder
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.randint(0, 64, (int(num_items * 1.1), 3), generator=g), dim=0)
    codes = codes[torch.randperm(len(codes), generator=g)[:num_items]]
    tokenizer = SIDTokenizer.from_sids(codes, [64, 64, 64], item_keys=[f"item-{i}" for i in range(len(codes))])
    torch.manual_seed(seed)
    model = build_model("tiger", tokenizer, hidden_size=hidden_size, intermediate_size=4 * hidden_size,
                        num_layers=layers, num_decoder_layers=layers, num_heads=4, d_kv=hidden_size // 4,
                        max_history=20)
    return save_model_folder(model, tokenizer, folder, item_titles=[f"Item {i}" for i in range(len(codes))],
                             dataset_name="random")


def start_server(model: str, out: Path, extra: list, max_batch_size: int, max_wait_ms: float):
    """``hf-genrec serve`` on a free loopback port; returns ``(process, url)`` once ``/health`` says ready."""
    import httpx

    summary = out / "serve_summary.json"
    summary.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "server.log", "w")
    command = [sys.executable, "-m", "hf_genrec.cli", "serve", "--model", model, "--port", "0", "--out", str(out),
               "--max-batch-size", str(max_batch_size), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning",
               *extra]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}; see {out / 'server.log'}")
        if summary.exists():
            url = json.loads(summary.read_text())["url"]
            try:
                if httpx.get(f"{url}/health", timeout=2).json().get("ready"):
                    return process, url
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not become ready in 180 s; see {out / 'server.log'}")


def stop_server(process) -> None:
    process.send_signal(signal.SIGINT)  # a graceful stop: the server rewrites its summary with the statistics
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


async def load(url: str, histories: list, top_k: int, concurrency: int):
    """Fire every history (at most ``concurrency`` in flight); ``(seconds, latencies in ms, ranked item lists)``."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    latencies, answers = [0.0] * len(histories), [None] * len(histories)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def one(index: int):
            async with gate:
                started = time.perf_counter()
                response = await client.post("/recommend", json={"history": histories[index], "top_k": top_k})
                latencies[index] = 1000 * (time.perf_counter() - started)
                response.raise_for_status()
                answers[index] = [row["item_id"] for row in response.json()["recommendations"]]

        for index in range(min(8, len(histories))):  # warm-up: connections open, first calls done
            await one(index)
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(histories))))
        return time.perf_counter() - started, latencies, answers


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summarize(seconds: float, latencies: list) -> dict:
    return {"requests": len(latencies), "seconds": round(seconds, 3),
            "throughput_rps": round(len(latencies) / seconds, 2),
            "latency_ms": {"mean": round(statistics.fmean(latencies), 2),
                           **{f"p{q}": round(percentile(latencies, q), 2) for q in (50, 90, 99)}}}


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bars = left.bar(modes, [results[m]["throughput_rps"] for m in modes], color=["tab:blue", "tab:gray"])
    left.bar_label(bars, fmt="%.0f")
    left.set_ylabel("requests / s")
    left.set_title("throughput")
    width = 0.38
    for offset, mode, color in ((-width / 2, modes[0], "tab:blue"), (width / 2, modes[1], "tab:gray")):
        values = [results[mode]["latency_ms"][p] for p in ("p50", "p90", "p99")]
        right.bar([i + offset for i in range(3)], values, width, label=mode, color=color)
    right.set_xticks(range(3), ["p50", "p90", "p99"])
    right.set_ylabel("latency (ms)")
    right.set_title("latency percentiles")
    right.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model folder (default: build a random TIGER into --out)")
    parser.add_argument("--items", type=int, default=5000, help="catalog size of the random TIGER")
    parser.add_argument("--hidden-size", type=int, default=256, help="width of the random TIGER")
    parser.add_argument("--layers", type=int, default=4, help="encoder (and decoder) layers of the random TIGER")
    parser.add_argument("--requests", type=int, default=400, help="requests per mode and round")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each mode")
    parser.add_argument("--history-length", type=int, default=10)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_serve")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        model = str(out / f"model-{args.items}-{args.hidden_size}x{args.layers}")
        if not Path(model, "items.json").exists():
            print(f"building a random TIGER of {args.items:,} items (d_model {args.hidden_size}, {args.layers} + "
                  f"{args.layers} layers) in {model}")
            build_random_tiger(Path(model), args.items, args.hidden_size, args.layers, args.seed)
    items = json.loads(Path(model, "items.json").read_text()) if Path(model, "items.json").exists() else {}
    num_items = len(items.get("item_ids") or []) or args.items
    rng = random.Random(args.seed)
    histories = [[rng.randrange(num_items) for _ in range(rng.randint(1, args.history_length))]
                 for _ in range(args.requests)]

    servers = {}
    try:
        for mode, extra in MODES.items():
            servers[mode] = start_server(model, out / mode.replace(" ", "_"), extra, args.max_batch_size,
                                         args.max_wait_ms)
            print(f"{mode}: {servers[mode][1]}")
        seconds = {mode: 0.0 for mode in MODES}
        latencies = {mode: [] for mode in MODES}
        answers = {mode: None for mode in MODES}
        for round_ in range(args.rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(list(MODES)):
                took, lat, ranked = asyncio.run(load(servers[mode][1], histories, args.top_k, args.concurrency))
                seconds[mode] += took
                latencies[mode] += lat
                answers[mode] = ranked
                print(f"round {round_ + 1} {mode:<12} {len(lat) / took:8.1f} req/s  p50 {percentile(lat, 50):7.1f} ms  "
                      f"p99 {percentile(lat, 99):7.1f} ms")
        import httpx

        stats = {mode: httpx.get(f"{url}/stats").json() for mode, (_, url) in servers.items()}
        health = httpx.get(f"{servers['batching'][1]}/health").json()
    finally:
        for process, _ in servers.values():
            stop_server(process)

    results = {mode: {**summarize(seconds[mode], latencies[mode]),
                      "generate_calls": stats[mode]["generate_calls"],
                      "mean_batch_size": stats[mode]["mean_batch_size"], "largest_batch": stats[mode]["largest_batch"],
                      "generate_ms_per_request": round(1000 * stats[mode]["busy_seconds"] / stats[mode]["items"], 2)}
               for mode in MODES}
    on, off = results["batching"], results["no batching"]
    same = sum(a == b for a, b in zip(answers["batching"], answers["no batching"]))
    ratios = {"throughput": round(on["throughput_rps"] / off["throughput_rps"], 2),
              **{f"latency_{p}": round(off["latency_ms"][p] / on["latency_ms"][p], 2) for p in ("p50", "p90", "p99")}}
    summary = {"model": model, "model_type": health["model_type"], "num_items": health["num_items"],
               "num_beams": health["num_beams"], "device": health["device"], "requests_per_round": args.requests,
               "rounds": args.rounds, "concurrency": args.concurrency, "top_k": args.top_k,
               "max_batch_size": args.max_batch_size, "max_wait_ms": args.max_wait_ms,
               "history_length": [1, args.history_length], "cpu_count": os.cpu_count(),
               "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "results": results,
               "batching_over_no_batching": ratios,
               "same_rankings": f"{same}/{len(histories)}"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    title = (f"{health['model_type']} ({health['num_items']:,} items, beam {health['num_beams']}), {args.concurrency} "
             f"concurrent clients, max batch {args.max_batch_size}, max wait {args.max_wait_ms:g} ms")
    plot(results, out / "serve_bench.png", title)
    print(f"\nthroughput: batching {on['throughput_rps']:.1f} req/s vs no batching {off['throughput_rps']:.1f} req/s "
          f"({ratios['throughput']:.2f}x)")
    for p in ("p50", "p90", "p99"):
        print(f"latency {p}: {on['latency_ms'][p]:.1f} ms vs {off['latency_ms'][p]:.1f} ms")
    print(f"batching server: {on['generate_calls']} generate calls, mean batch size {on['mean_batch_size']}, "
          f"largest {on['largest_batch']}; model time per request {on['generate_ms_per_request']:.1f} ms vs "
          f"{off['generate_ms_per_request']:.1f} ms; same rankings in both modes: {summary['same_rankings']}")
    print(f"results: {out / 'summary.json'}   plot: {out / 'serve_bench.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
