"""``hf-genrec reproduce``: prepare the data, build the SIDs, train every experiment of a table for each seed, evaluate,
and report ours next to the published numbers and the reference rankers on the same split.

Output folder (``--out``, default ``runs/reproduce/<paper>-<table>-<dataset>-<tier>``): ``results.json`` (every run,
every published row, the baselines, the hardware), ``results.md`` (the table) and ``results.png``. Data and SIDs are
cached per recipe under ``<out>/../data`` so several tables share them; each run trains in ``runs/<experiment>-s<seed>``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._version import __version__
from ..utils.cpu_load import describe_cpu_load
from ..utils.io import atomic_write_json, atomic_write_text, output_lock
from ..utils.logging import get_logger
from .registry import TIERS, DataRecipe, Experiment, ReproductionTable, get_table, resolve_published, EXPERIMENTS

logger = get_logger(__name__)

METRICS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20")


def repository_root() -> Path:
    """The source checkout holding ``examples/configs`` (the harness runs the example configs)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "examples" / "configs").is_dir():
        raise FileNotFoundError(f"{root / 'examples' / 'configs'} is missing: the reproduction harness runs the "
                                "example configs of a source checkout of hf_genrec")
    return root


def shared_datasets(shared: Optional[str | os.PathLike] = None) -> Path:
    folder = Path(shared or os.environ.get("HF_GENREC_SHARED", repository_root().parent / "shared")) / "datasets"
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark data not found at {folder} (pass --shared or set HF_GENREC_SHARED)")
    return folder


def prepare_recipe(recipe: DataRecipe, data_root: Path, shared: Optional[str] = None, encoder: Optional[str] = None,
                   synthetic_seed: int = 0) -> Dict[str, str]:
    """The prepared folder and SIDs of a recipe (built once, reused by every run that shares the recipe)."""
    from ..commands.build_sids import run_build_sids
    from ..commands.prepare import run_prepare
    from ..data import PrepareConfig, SyntheticConfig, generate_synthetic
    from ..defaults import DEFAULT_ENCODER

    history_key, sid_key = recipe.key.split("/")
    prepared = data_root / history_key / "prepared"
    sids = data_root / history_key / sid_key
    if not (prepared / "summary.json").exists():
        if recipe.dataset == "synthetic":
            raw = data_root / history_key / "raw"
            if not (raw / "summary.json").exists():
                generate_synthetic(raw, SyntheticConfig(seed=synthetic_seed), overwrite=True)
            source = raw
        else:
            source = shared_datasets(shared) / recipe.dataset
        text = {"text_fields": recipe.text_fields} if recipe.text_fields else {}
        run_prepare(source, prepared, config=PrepareConfig(max_history=recipe.max_history, **text),
                    encoder=encoder or DEFAULT_ENCODER, overwrite=True)
    if not (sids / "summary.json").exists():
        run_build_sids(prepared, sids, recipe.quantizer, recipe.levels, recipe.codebook_size, recipe.collisions,
                       quantizer_options=dict(recipe.quantizer_options), overwrite=True)
    return {"prepared": str(prepared), "sids": str(sids)}


def run_config_for(experiment: Experiment, tier: str, seed: int, data: Dict[str, str], output_dir: Path,
                   overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """The example config with this run's data, seed, output folder and the tier's options."""
    import yaml

    from ..commands.train import load_yaml_config

    if tier not in experiment.tiers:
        raise ValueError(f"experiment {experiment.key} has no {tier!r} tier; it has {sorted(experiment.tiers)}")
    tier_options = [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"
                    for key, value in experiment.tiers[tier].items()]
    config = load_yaml_config(repository_root() / "examples" / "configs" / experiment.config,
                              [*tier_options, *overrides])
    config["data"] = dict(data)
    config["training"].update(output_dir=str(output_dir), seed=seed, overwrite_output_dir=True, report_to=[],
                              show_progress=False)
    return config


def baselines_on(prepared: str) -> Dict[str, Dict[str, float]]:
    from ..commands.evaluate import run_baselines

    return run_baselines(prepared, "test")


def run_reproduction(paper: str, table: str, dataset: str, tier: str = "cpu", seeds: int = 1,
                     out: Optional[str | os.PathLike] = None, only: Optional[Sequence[str]] = None,
                     shared: Optional[str] = None, overrides: Sequence[str] = (),
                     first_seed: int = 42) -> Dict[str, Any]:
    """Run (or resume: finished runs are read back) every experiment of a reproduction table; write the report.
    Seeds ``first_seed .. first_seed + seeds - 1``: a later seed can run on its own (another machine or session) and
    join the earlier ones by running again into the same ``out`` with more ``seeds``."""
    from ..commands.common import read_json
    from ..commands.train import run_train

    if tier not in TIERS:
        raise ValueError(f"--tier must be one of {TIERS}, got {tier!r}")
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    malformed = [item for item in overrides if "=" not in str(item)]
    if malformed:  # checked here too: when every run is read back, no config would reject them
        raise ValueError(f"overrides {malformed} are not of the form section.key=value (several --only experiments "
                         "are separated by commas)")
    spec = get_table(paper, table, dataset)
    keys = list(spec.experiments if not only else only)
    unknown = sorted(set(keys) - set(spec.experiments))
    if unknown:
        raise ValueError(f"--only {unknown} are not experiments of this table; it has {list(spec.experiments)}")
    out = Path(out or Path("runs") / "reproduce" / f"{spec.paper}-{spec.table}-{spec.dataset}-{tier}")
    with output_lock(out):
        out.mkdir(parents=True, exist_ok=True)
        data_root = out.parent / "data"
        started = time.time()
        runs: List[Dict[str, Any]] = []
        baselines: Dict[str, Dict[str, Any]] = {}
        for key in keys:
            experiment = EXPERIMENTS[key]
            data = prepare_recipe(experiment.recipe, data_root, shared)
            if experiment.recipe.key not in baselines:
                baselines[experiment.recipe.key] = baselines_on(data["prepared"])
            for seed in range(first_seed, first_seed + seeds):
                folder = out / "runs" / f"{key}-s{seed}"
                previous = read_json(folder / "summary.json") if (folder / "summary.json").exists() else None
                finished = bool(previous and previous.get("test") and previous.get("reproduce_tier") == tier)
                if finished:
                    logger.info(f"{key}, seed {seed}: finished earlier, read back from {folder}")
                    summary = previous
                else:
                    logger.info(f"{key}, seed {seed}: training ({tier} tier) into {folder}")
                    summary = run_train(run_config_for(experiment, tier, seed, data, folder, overrides))
                    summary["reproduce_tier"] = tier
                    atomic_write_json(folder / "summary.json", summary)
                metrics = (summary.get("test") or {}).get("metrics", {})
                if not finished:
                    logger.info(f"{key}, seed {seed}: {summary.get('global_step')} steps, test "
                                + ", ".join(f"{name} {metrics[name]:.4f}" for name in ("recall@10", "ndcg@10")
                                            if name in metrics))
                runs.append({"experiment": key, "label": experiment.label, "seed": seed, "metrics": metrics,
                             "seconds": summary.get("seconds"), "global_step": summary.get("global_step"),
                             "stopped_by_time_budget": summary.get("stopped_by_time_budget"),
                             "best_step": summary.get("best_step"), "recipe": experiment.recipe.key,
                             "peak_memory_gb": summary.get("peak_memory_gb"),
                             "cpu": summary.get("cpu"),  # threads and load average: how contended the run was
                             "validation": validation_curve(folder, summary, data["prepared"])})
        result = {"command": "reproduce", "hf_genrec_version": __version__, "paper": spec.paper, "table": spec.table,
                  "dataset": spec.dataset, "caption": spec.caption, "tier": tier, "seeds": seeds,
                  "first_seed": first_seed,
                  "hardware": _hardware(), "minutes": round((time.time() - started) / 60, 1),
                  "runs": runs, "baselines": baselines,
                  "published": {key: [row.__dict__ for ref in EXPERIMENTS[key].compare_with
                                      for row in resolve_published(ref, spec.dataset)] for key in keys},
                  "reference": spec.reference,
                  "published_gains": published_gains(*spec.published_gains) if spec.published_gains else []}
        result["rows"] = summarise(result, keys)
        atomic_write_json(out / "results.json", result)
        atomic_write_text(out / "results.md", render_markdown(result))
        plot_results(result, out / "results.png")
        plot_validation_curves(result, out / "curves.png")
        result["outputs"] = {"json": str(out / "results.json"), "markdown": str(out / "results.md"),
                             "plot": str(out / "results.png"), "curves": str(out / "curves.png")}
    return result


def validation_curve(folder: Path, summary: Dict[str, Any], prepared: str) -> Dict[str, Any]:
    """Validation Recall@10 against training minutes for one run, the item-transition model's Recall@10 on the
    same validation users (the run's random subset), and the first minute at which the run passed it."""
    from ..commands.common import read_json

    history_file = folder / "training_history.json"
    rows = (read_json(history_file) or {}).get("validation", []) if history_file.exists() else []
    training = (summary.get("config") or {}).get("training", {})
    users = training.get("eval_max_users")
    reference = transition_on_validation(prepared, users, int(training.get("eval_subset_seed", 0)))
    curve = [(row["training_minutes"], row["recall@10"]) for row in rows
             if row.get("training_minutes") is not None and "recall@10" in row]
    passed = next((minutes for minutes, recall in curve if recall > reference), None)
    return {"minutes": [m for m, _ in curve], "recall@10": [r for _, r in curve], "users": users,
            "transition_recall@10": reference, "minutes_to_pass_transition": passed,
            "minutes_to_pass_extrapolated": None if passed is not None else extrapolate_minutes(curve, reference)}


#: extrapolations beyond this multiple of a run's minutes are not reported
MAX_EXTRAPOLATION = 100


def extrapolate_minutes(curve: Sequence[Tuple[float, float]], target: float, points: int = 4) -> Optional[float]:
    """A rough estimate of the training minutes a run would need to reach ``target``: a straight line through
    validation Recall@10 against log(minutes) over the last ``points`` evaluations, followed to ``target``. ``None``
    when the curve is too short, not rising, or so flat that the estimate is more than ``MAX_EXTRAPOLATION`` times
    the run's length (a number like that says nothing). Learning curves flatten, so read it as a lower bound."""
    import math

    tail = [(math.log(m), r) for m, r in curve if m > 0][-points:]
    if len(tail) < 3:
        return None
    n = len(tail)
    mean_x, mean_y = sum(x for x, _ in tail) / n, sum(y for _, y in tail) / n
    var = sum((x - mean_x) ** 2 for x, _ in tail)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in tail) / var if var else 0.0
    if slope <= 0:
        return None
    exponent = mean_x + (target - mean_y) / slope
    if exponent > tail[-1][0] + math.log(MAX_EXTRAPOLATION):
        return None
    return round(math.exp(exponent), 1)


_TRANSITION_CACHE: Dict[Tuple[str, Optional[int], int], float] = {}


def transition_on_validation(prepared: str, max_users: Optional[int], subset_seed: int) -> float:
    """The item-transition model's validation Recall@10 on the users the trainer validates on (the same draw)."""
    key = (str(prepared), max_users, subset_seed)
    if key not in _TRANSITION_CACHE:
        from ..commands.evaluate import run_baselines

        baselines = run_baselines(prepared, "validation", max_users=max_users, subset_seed=subset_seed)
        _TRANSITION_CACHE[key] = baselines["item_transition"]["recall@10"]
    return _TRANSITION_CACHE[key]


def plot_validation_curves(result: Dict[str, Any], path: Path) -> Path:
    """Validation Recall@10 against training minutes, one line per run, the transition model dashed."""
    from ..utils.plots import plot_validation_curves as plot

    return plot(result["runs"], path, title=result["caption"])


def _hardware() -> Dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu_count": os.cpu_count(), "machine": platform.machine(), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version()}


def summarise(result: Dict[str, Any], keys: Sequence[str]) -> List[Dict[str, Any]]:
    """One row per experiment: mean and std over seeds, and the gap to each published row it reproduces."""
    rows = []
    for key in keys:
        runs = [run for run in result["runs"] if run["experiment"] == key]
        ours = {}
        for metric in METRICS:
            values = [run["metrics"][metric] for run in runs if metric in run["metrics"]]
            if values:
                ours[metric] = {"mean": statistics.fmean(values),
                                "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}
        published = []
        for row in result["published"][key]:
            gaps = {metric: (ours[metric]["mean"] - value) / value * 100.0
                    for metric, value in row["metrics"].items() if metric in ours and value}
            published.append({"source": f"{row['paper']}/{row['table']}", "method": row["method"],
                              "metrics": row["metrics"], "difference_pct": gaps})
        rows.append({"experiment": key, "label": runs[0]["label"] if runs else key, "ours": ours,
                     "minutes": [round((run["seconds"] or 0) / 60, 1) for run in runs],
                     "stopped_by_time_budget": any(run["stopped_by_time_budget"] for run in runs),
                     "recipe": runs[0]["recipe"] if runs else None, "published": published})
    return rows


def published_gains(paper: str, table: str, base: str) -> List[Dict[str, Any]]:
    """A paper's relative gains (%) of every method of one table over its ``base`` method, per dataset it reports."""
    from .registry import published_rows

    rows = [row for row in published_rows() if row.paper == paper and row.table == table]
    gains = []
    for row in rows:
        reference = next((r for r in rows if r.dataset == row.dataset and r.method == base), None)
        if reference is None or row.method == base:
            continue
        gains.append({"dataset": row.dataset, "method": row.method,
                      "gain_pct": {metric: (value / reference.metrics[metric] - 1.0) * 100.0
                                   for metric, value in row.metrics.items() if reference.metrics.get(metric)}})
    return gains


def reference_gains(result: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
    """Each experiment's relative gain (%) of the mean metrics over the table's reference experiment (ours)."""
    rows = {row["experiment"]: row for row in result["rows"]}
    reference = rows.get(result.get("reference") or "")
    if reference is None:
        return {}
    return {key: {metric: (row["ours"][metric]["mean"] / reference["ours"][metric]["mean"] - 1.0) * 100.0
                  for metric in METRICS if metric in row["ours"] and reference["ours"].get(metric, {}).get("mean")}
            for key, row in rows.items() if key != result["reference"]}


def _format(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.4f}"


def _passed_text(passed: Optional[float], extrapolated: Optional[float]) -> str:
    if passed is not None:
        return f"{passed:.1f} min"
    if extrapolated is not None:
        return f"not within the run (its curve extrapolates to about {extrapolated:.0f} min)"
    return "not within the run"


def render_markdown(result: Dict[str, Any]) -> str:
    """The table of a reproduction: reference rankers, ours (mean ± std over seeds) and the published rows."""
    lines = [f"### {result['caption']}", "",
             f"Tier `{result['tier']}`, {result['seeds']} seed(s) from {result.get('first_seed', 42)}, hardware: "
             f"{result['hardware']['cpu_count']} CPU cores"
             f"{', GPU ' + result['hardware']['gpu'] if result['hardware']['gpu'] else ''}; "
             f"{result['minutes']} minutes in all. Test split, full ranking, leave-one-out; hf_genrec "
             f"{result['hf_genrec_version']}.", "",
             "| method | source | " + " | ".join(METRICS) + " | difference to published (R@10 / N@10) | time |",
             "|---|---|" + "---|" * len(METRICS) + "---|---|"]
    for recipe, baselines in result["baselines"].items():
        for name, metrics in baselines.items():
            cells = " | ".join(_format(metrics.get(metric)) for metric in METRICS)
            lines.append(f"| {name.replace('_', ' ')} | ours, `{recipe}` | {cells} | | |")
    for row in result["rows"]:
        cells = []
        for metric in METRICS:
            stat = row["ours"].get(metric)
            cells.append("" if stat is None else (f"{stat['mean']:.4f}" + (f" ± {stat['std']:.4f}" if stat["n"] > 1
                                                                                   else "")))
        gaps = "; ".join(f"{p['method']}: " + " / ".join(f"{p['difference_pct'][m]:+.1f}%" for m in ("recall@10",
                         "ndcg@10") if m in p["difference_pct"]) for p in row["published"] if p["difference_pct"])
        budget = f"{max(row['minutes'] or [0])} min" + (" (budget)" if row["stopped_by_time_budget"] else "")
        lines.append(f"| **{row['label']}** | ours, `{row['recipe']}` | " + " | ".join(cells) + f" | {gaps} | {budget} |")
        for published in row["published"]:
            cells = " | ".join(_format(published["metrics"].get(metric)) for metric in METRICS)
            lines.append(f"| {published['method']} | {published['source']} (reported) | {cells} | | |")
    gains = reference_gains(result)
    if gains:
        label = next(row["label"] for row in result["rows"] if row["experiment"] == result["reference"])
        lines += ["", f"Relative to **{label}** (ours, same data and budget):", "",
                  "| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for row in result["rows"]:
            if row["experiment"] in gains:
                cells = " | ".join(f"{gains[row['experiment']][m]:+.1f}%" if m in gains[row["experiment"]] else ""
                                   for m in METRICS)
                lines.append(f"| {row['label']} | {cells} |")
    if result.get("published_gains"):
        metrics = sorted({m for g in result["published_gains"] for m in g["gain_pct"]})
        lines += ["", "The paper's own relative gains over its base method (reported numbers, its datasets):", "",
                  "| dataset | method | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
        for gain in result["published_gains"]:
            cells = " | ".join(f"{gain['gain_pct'][m]:+.1f}%" if m in gain["gain_pct"] else "" for m in metrics)
            lines.append(f"| {gain['dataset']} | {gain['method']} | {cells} |")
    lines += ["", "Time to pass the item-transition model on validation (Recall@10 on the run's validation users, "
              "training minutes without validation time), with each run's steps and CPU (its threads and the mean "
              "1-minute load average while it trained: a load above the cores means the runs waited for them):", "",
              "| method | seed | validation users | transition R@10 there | best validation R@10 | passed after | steps "
              "| CPU |",
              "|---|---|---|---|---|---|---|---|"]
    # a run that did not pass gets the budget its curve extrapolates to (log-linear over its last evaluations)
    for run in result["runs"]:
        curve = run.get("validation") or {}
        if not curve.get("recall@10"):
            continue
        passed = curve.get("minutes_to_pass_transition")
        lines.append(f"| {run['label']} | {run['seed']} | {curve.get('users') or 'all'} | "
                     f"{curve['transition_recall@10']:.4f} | {max(curve['recall@10']):.4f} | "
                     f"{_passed_text(passed, curve.get('minutes_to_pass_extrapolated'))} | "
                     f"{run.get('global_step') or ''} | {describe_cpu_load(run.get('cpu'))} |")
    lines.append("")
    return "\n".join(lines)


def plot_results(result: Dict[str, Any], path: Path) -> Path:
    """Recall@10 and NDCG@10: reference rankers, ours (error bars over seeds) and the published values."""
    from ..utils.plots import plot_reproduction

    return plot_reproduction(result, path)
