"""The ``hf-genrec`` command line.

Subcommands (each writes ``summary.json`` into its output folder and shows progress on long work):

* ``prepare``    raw logs -> leave-one-out ``DatasetDict`` + item table + item embeddings
* ``build-sids`` item embeddings -> semantic IDs + ``SIDTokenizer`` + SID quality report (``--import``: published SIDs)
* ``export-sids`` a SIDs folder -> LETTER ``.index.json`` or an item-to-codes table
* ``evaluate``   full-ranking Recall/NDCG@K of a saved model (``metrics.json``)
* ``train``      train from a YAML config (``accelerate launch -m hf_genrec.cli train ...`` for several processes)
* ``recommend``  top-K items for one history, with titles and scores
* ``serve``      an HTTP recommendation service (FastAPI + uvicorn, dynamic batching; ``pip install hf_genrec[serve]``)
* ``push``       a model folder or prepared dataset to the Hub (optionally with bundled remote code)
* ``synthetic``  write the embedded default catalog in the two-file format
* ``reproduce``  a paper table's experiments end to end, next to the published numbers
* ``quickstart`` the main job on the embedded default (or ``--data``)

Run ``hf-genrec <command> --help`` for the options. Also usable as ``python -m hf_genrec.cli``.
Errors in the input print one line and exit with status 2; ``HF_GENREC_DEBUG=1`` shows the traceback.

This module is argument parsing and printing only; the work is in :mod:`hf_genrec.commands`. It imports
nothing heavy at module level, so ``--help`` and a mistyped command answer without loading torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional

from ._version import __version__
from .defaults import (COLLISION_MODES, DEFAULT_ENCODER, DEFAULT_TEXT_FIELDS, EMBEDDING_SOURCES, QUANTIZERS,
                       READER_FORMATS, SID_EXPORT_FORMATS, SID_IMPORT_FORMATS)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit status 2) that names the option, like every other input error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, low: float, strict: bool = False):
    """An argparse type: an ``int`` / ``float`` of at least ``low`` (greater than ``low`` with ``strict``)."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {'greater than' if strict else 'at least'} {low}, got {text}")
        return value

    return parse


def _ks(text: str):
    """``--ks 5,10,20``: cut-offs of Recall/NDCG@K, positive integers."""
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 5,10,20, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}")
    return ks


POSITIVE, AT_LEAST_TWO = _number(int, 1), _number(int, 2)


def _add_prepare_options(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument_group("preprocessing")
    p.add_argument("--kcore", type=POSITIVE, default=None, help="k for both users and items (default 5)")
    p.add_argument("--min-user-interactions", type=POSITIVE, default=5)
    p.add_argument("--min-item-interactions", type=POSITIVE, default=5)
    p.add_argument("--max-history", type=POSITIVE, default=20, help="most recent items kept per history (default 20)")
    p.add_argument("--train-examples", choices=("all_prefixes", "last"), default="all_prefixes",
                   help="training examples from every prefix (TIGER) or the last one only")
    p.add_argument("--dedupe-consecutive", action="store_true", help="drop an interaction equal to the previous one")
    p.add_argument("--drop-short-users", action="store_true", help="drop users with < 3 interactions instead of failing")
    p.add_argument("--require-timestamps", action="store_true")
    p.add_argument("--text-fields", default=",".join(DEFAULT_TEXT_FIELDS),
                   help="comma-separated item fields assembled into the encoder text")
    p.add_argument("--text-template", default=None, help="e.g. '{title} ({brand}) in {category_path}'")
    e = parser.add_argument_group("item embeddings")
    e.add_argument("--encoder", default=DEFAULT_ENCODER, help="sentence-transformers model name or folder")
    e.add_argument("--no-embed", action="store_true", help="skip the item embeddings")
    e.add_argument("--batch-size", type=POSITIVE, default=64)
    e.add_argument("--device", default=None)
    e.add_argument("--cache-dir", default=None, help="embedding cache (default ~/.cache/hf_genrec/embeddings)")
    e.add_argument("--no-cache", action="store_true")


def _prepare_config(args):
    from .data import PrepareConfig

    user_k = args.kcore if args.kcore is not None else args.min_user_interactions
    item_k = args.kcore if args.kcore is not None else args.min_item_interactions
    return PrepareConfig(min_user_interactions=user_k, min_item_interactions=item_k,
                         remove_consecutive_duplicates=args.dedupe_consecutive, max_history=args.max_history,
                         train_examples=args.train_examples, drop_short_users=args.drop_short_users,
                         require_timestamps=args.require_timestamps,
                         text_fields=tuple(f.strip() for f in args.text_fields.split(",") if f.strip()),
                         text_template=args.text_template)


def _reader_options(args) -> Dict:
    from .data import InteractionColumns, ItemColumns

    options: Dict = {}
    if args.format == "table":
        options["interaction_columns"] = InteractionColumns(user=args.user_col, item=args.item_col,
                                                            timestamp=args.time_col or None, timestamp_unit=args.time_unit)
        options["item_columns"] = ItemColumns(item=args.item_key_col or args.item_col, title=args.title_col,
                                              brand=args.brand_col, categories=args.categories_col,
                                              category_path=args.category_path_col, description=args.description_col,
                                              list_separator=args.list_separator)
    if args.date_from or args.date_to:
        options.update(date_from=args.date_from, date_to=args.date_to)
    return options


def cmd_prepare(args) -> Dict:
    from .commands.prepare import run_prepare
    from .data import format_statistics

    config = None if args.format == "hub" else _prepare_config(args)  # a Hub dataset keeps its own settings
    summary = run_prepare(args.data, args.out, format=args.format, items=args.items, config=config,
                          encoder=None if args.no_embed else args.encoder, batch_size=args.batch_size,
                          device=args.device, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                          overwrite=args.overwrite, export_parquet=args.export_parquet,
                          reader_options=_reader_options(args))
    print(format_statistics(summary["statistics"]))
    if summary.get("embeddings"):
        emb = summary["embeddings"]
        print(f"embeddings     {emb['num_items']:,} x {emb['dim']} ({emb['model']}, cache {emb['cache']})")
    print(f"saved to {args.out} (summary: {args.out}/summary.json)")
    if args.push_to_hub:
        from .data import PreparedDataset
        from .hub import push_dataset

        url = push_dataset(PreparedDataset.load(args.out), args.push_to_hub, private=args.private,
                           item_embeddings=args.out)
        print(f"pushed to {url}")
    return summary


def cmd_synthetic(args) -> Dict:
    from .commands.synthetic import run_synthetic
    from .data import SyntheticConfig

    summary = run_synthetic(args.out, SyntheticConfig(num_users=args.users, num_items=args.items, seed=args.seed),
                            overwrite=args.overwrite)
    print(f"wrote {summary['interactions']:,} interactions of {summary['users']:,} users over {summary['items']:,} items "
          f"to {args.out}")
    return summary


def cmd_quickstart(args) -> Dict:
    from .commands.quickstart import QUICKSTART_EPOCHS, run_quickstart
    from .data import format_statistics

    summary = run_quickstart(args.out, data=args.data, seed=args.seed, encoder=args.encoder,
                             epochs=QUICKSTART_EPOCHS if args.epochs is None else args.epochs, train=not args.no_train)
    prepare = summary["steps"]["prepare"]
    print("\n== prepared dataset")
    print(format_statistics(prepare["statistics"]))
    emb = prepare["embeddings"]
    print(f"embeddings     {emb['num_items']:,} x {emb['dim']} ({emb['model']}, cache {emb['cache']})")
    sids = summary["steps"]["sids"]
    print(f"\n== semantic IDs (RQ-KMeans, codebooks {sids['codebook_sizes']})")
    print("collision rate per level before suffix: " +
          ", ".join(f"{r:.4f}" for r in sids["quality_before_collision_handling"]["collision_rate_per_level"]) +
          f"; after: {sids['quality']['collision_rate']:.4f}")
    print("\n== reference baselines on the test split")
    for name, metrics in summary["steps"]["baselines"].items():
        print(f"{name:<16} " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.endswith(("@10", "@20"))))
    train = summary["steps"].get("train")
    if train:
        test = (train.get("test") or {}).get("metrics", {})
        print(f"\n== TIGER (decoder-only HSTU, sequence examples) trained for {train['global_step']} steps "
              f"({train['seconds']:.0f} s, {train['samples_per_second']:.0f} samples/s)")
        print("test  " + "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k.endswith(("@10", "@20"))))
        for name, metrics in summary["steps"]["baselines"].items():
            wins = [k for k in ("recall@10", "ndcg@10") if test.get(k, 0.0) > metrics.get(k, 1.0)]
            print(f"against {name}: better on {', '.join(wins) if wins else 'neither Recall@10 nor NDCG@10'}")
        reload = summary["steps"]["reload"]
        print(f"\n== reloaded with AutoModel.from_pretrained({reload['model_folder']!r})")
        print(f"user {reload['user_id']} recently bought: " + " | ".join(reload["history_titles"]))
        for row in reload["recommendations"]:
            print(f"  {row['rank']}. {row['title']}  ({row['score']:.3f})")
        print(f"held-out next item: {reload['target_title']} ({'in' if reload['target_in_top5'] else 'not in'} the top 5)")
    print(f"\nresults: {args.out}/summary.json   prepared data: {args.out}/prepared   SIDs: {args.out}/sids"
          + (f"\nmodel: {train['model_folder']}   curves: {train['plot']}" if train else ""))
    return summary


def _usage_line(quality: Dict) -> str:
    """Perplexity and utilization per level of a SID quality report, in one line."""
    return ("perplexity per level: " + ", ".join(f"{p:.1f}" for p in quality["perplexity"]) +
            "   utilization: " + ", ".join(f"{u:.3f}" for u in quality["utilization"]))


def cmd_import_sids(args) -> Dict:
    from .commands.sid_interop import run_import_sids

    summary = run_import_sids(args.data, args.import_path, args.out, args.import_format, args.collisions or "none",
                              args.codebook_sizes, args.import_key_column, args.ignore_unknown_items, args.overwrite)
    imported, quality = summary["imported"], summary["quality"]
    duplicates = summary["collision_handling"]["duplicates"]
    print(f"imported {args.import_format} SIDs of {imported['items']:,} items from {args.import_path} "
          f"({imported['ignored_unknown_items']:,} unknown items dropped), codebooks {summary['codebook_sizes']}")
    print("collision rate per level: " + ", ".join(f"{r:.4f}" for r in quality["collision_rate_per_level"])
          + f"; {duplicates['shared_sids']:,} SIDs shared by {duplicates['items_sharing_a_sid']:,} items "
          f"(collisions '{summary['collisions']}')")
    print(_usage_line(quality))
    print(f"saved to {args.out} (summary: {args.out}/summary.json; no quantizer/: models that read codebooks need "
          "SIDs built with a quantizer)")
    return summary


def cmd_export_sids(args) -> Dict:
    from .commands.sid_interop import run_export_sids

    summary = run_export_sids(args.sids, args.data, args.out, args.format, args.overwrite)
    print(f"wrote the {args.format} SIDs of {summary['items']:,} items ({summary['levels']} levels, codebooks "
          f"{summary['codebook_sizes']}) to {args.out} (summary: {summary['outputs']['summary']})")
    return summary


def cmd_build_sids(args) -> Dict:
    from .commands.build_sids import run_build_sids

    if args.import_path:
        if args.embeddings != "content":
            raise SystemExit("hf-genrec build-sids: --embeddings does not apply to --import (the SIDs are given)")
        return cmd_import_sids(args)
    args.collisions = args.collisions or "suffix"
    options = {}
    if args.quantizer in ("rqvae", "vqvae"):
        options.update(epochs=args.epochs or 100, beta=0.25 if args.beta is None else args.beta,
                       learning_rate=args.lr or 1e-3, batch_size=args.batch_size or 1024, ema=args.ema,
                       dead_code_reset=not args.no_dead_code_reset, kmeans_init=not args.no_kmeans_init)
        if args.latent_dim is not None:
            options["latent_dim"] = args.latent_dim
    elif args.quantizer == "prism":  # the preset's values unless given (PRISM Sec. 4.1 / the official code)
        given = {"epochs": args.epochs, "beta": args.beta, "learning_rate": args.lr, "batch_size": args.batch_size,
                 "latent_dim": args.latent_dim, "max_minutes": args.max_minutes}
        options.update({key: value for key, value in given.items() if value is not None}, preset=args.preset)
        for switch in args.without or []:
            options[f"use_{switch}"] = False
        if args.lightgcn_max_minutes is not None:
            options["lightgcn"] = {"max_minutes": args.lightgcn_max_minutes}
    else:
        options.update(balanced=args.balanced, iterations=args.kmeans_iterations)
    if args.embeddings != "content":
        options["embeddings"] = args.embeddings
        if args.lightgcn_max_minutes is not None:
            options["lightgcn"] = {"max_minutes": args.lightgcn_max_minutes}
    summary = run_build_sids(args.data, args.out, args.quantizer, args.levels, args.codebook_size, args.collisions,
                             args.seed, options, args.overwrite)
    before, after = summary["quality_before_collision_handling"], summary["quality"]
    print(f"{args.quantizer}: {summary['inputs']['items']:,} items, codebooks {summary['codebook_sizes']} "
          f"({summary['seconds']:.1f} s)")
    print("collision rate per level before handling: " + ", ".join(f"{r:.4f}" for r in before["collision_rate_per_level"]))
    print(f"after '{args.collisions}': collision rate {after['collision_rate']:.4f}, unique SIDs {after['unique_sids']:,}")
    print(_usage_line(before))
    for name, quality in summary["reference_sids"].items():
        print(f"published {name} SIDs: collision rate {quality['collision_rate']:.4f}, "
              "per level " + ", ".join(f"{r:.4f}" for r in quality["collision_rate_per_level"]))
    print(f"saved to {args.out} (summary: {args.out}/summary.json)")
    return summary


def cmd_evaluate(args) -> Dict:
    from .commands.evaluate import run_evaluate

    summary = run_evaluate(args.model, args.data, args.split, args.out, args.num_beams, args.batch_size,
                           args.ks, args.max_users, args.tokenizer, args.device)
    metrics = summary["metrics"]
    print(f"{summary['split']} ({summary['num_users']:,} users, beam {summary['num_beams']}): " +
          "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if summary.get("ci95"):
        print("  95% CI ± " + "  ".join(f"{k} {v:.4f}" for k, v in summary["ci95"].items()))
    for name, group in summary["groups"].items():
        print(f"  {name:<10} ({group['users']:,} users) recall@10 {group.get('recall@10', float('nan')):.4f} "
              f"ndcg@10 {group.get('ndcg@10', float('nan')):.4f}")
    if summary["latency"]:
        print(f"  latency {summary['latency']['mean_ms_per_batch']:.1f} ms per batch of {summary['latency']['batch_size']}")
    print(f"metrics: {summary['outputs']['metrics']}")
    return summary


def cmd_train(args) -> Dict:
    from .commands.train import load_yaml_config, run_train

    config = load_yaml_config(args.config, args.overrides)
    if args.overwrite:
        config.setdefault("training", {})["overwrite_output_dir"] = True
    summary = run_train(config)
    if summary.get("stopped_at_step"):
        print(f"stopped at step {summary['stopped_at_step']}; resume with training.resume_from={summary['checkpoint']}")
    elif summary.get("model_folder"):
        test = (summary.get("test") or {}).get("metrics", {})
        print(f"best validation {summary['metric_for_best_model']} {summary['best_validation']:.4f} at step "
              f"{summary['best_step']}; test " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        print(f"model: {summary['model_folder']}  curves: {summary['plot']}")
    return summary


def cmd_recommend(args) -> Dict:
    from .commands.evaluate import run_recommend

    summary = run_recommend(args.model, args.history, args.top_k, args.num_beams, args.out)
    print(f"history: {summary['history']}")
    for row in summary["recommendations"]:
        print(f"{row['rank']:>3}. {row['item_id']:<14} {row['score']:>9.4f}  {row['title']}")
    return summary


def cmd_serve(args) -> Dict:
    from .commands.serve import run_serve
    from .serving import ServingDependencyError

    try:
        summary = run_serve(args.model, host=args.host, port=args.port, out=args.out,
                            max_batch_size=1 if args.no_batching else args.max_batch_size,
                            max_wait_ms=args.max_wait_ms, batching=not args.no_batching, num_beams=args.num_beams,
                            max_top_k=args.max_top_k, device=args.device, tokenizer=args.tokenizer,
                            log_level=args.log_level, access_log=args.access_log)
    except ServingDependencyError as error:  # one line, like an input error
        print(f"hf-genrec serve: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    stats = summary.get("stats") or {"items": 0, "batches": 0, "mean_batch_size": 0}
    print(f"served {stats['items']:,} histories in {stats['batches']:,} batches (mean size {stats['mean_batch_size']}); "
          f"summary: {args.out}/serve_summary.json")
    return summary


def cmd_push(args) -> Dict:
    from .commands.push import run_push

    summary = run_push(args.repo, model=args.model, data=args.data, out=args.out, remote_code=args.remote_code,
                       allow_restricted=args.allow_restricted, token=args.token, private=args.private,
                       endpoint=args.endpoint, revision=args.revision)
    print(f"pushed to {args.repo}: {summary['commit']}")
    return summary


def cmd_reproduce(args) -> Dict:
    from .commands.reproduce import run_reproduce

    result = run_reproduce(args.paper, args.table, args.dataset, args.tier, args.seeds, args.out,
                           args.only.split(",") if args.only else None, args.shared, args.overrides,
                           args.first_seed)
    print(open(result["outputs"]["markdown"], encoding="utf-8").read())
    print(f"results: {result['outputs']['json']}   table: {result['outputs']['markdown']}   "
          f"plot: {result['outputs']['plot']}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hf-genrec", description="Generative recommendation with semantic IDs.")
    parser.add_argument("--version", action="version", version=f"hf_genrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare", help="raw logs -> leave-one-out DatasetDict + item embeddings")
    prep.add_argument("--data", required=True, help="dataset folder or file (or an Amazon 2023 category for "
                      "amazon2023-hub; a Hub dataset id or Parquet export folder for hub)")
    prep.add_argument("--format", default="auto", choices=("auto", *READER_FORMATS),
                      help="hub: a dataset prepared and pushed by hf-genrec (push --data), read back with its "
                      "splits, statistics and item embeddings")
    prep.add_argument("--items", default=None, help="item / meta / business file when not beside --data")
    prep.add_argument("--out", required=True, help="output folder (written atomically)")
    prep.add_argument("--overwrite", action="store_true")
    prep.add_argument("--export-parquet", action="store_true", help="also write the Hub Parquet layout to OUT/parquet")
    prep.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="push the dataset to this Hub repo")
    prep.add_argument("--private", action="store_true")
    t = prep.add_argument_group("column mapping (--format table)")
    t.add_argument("--user-col", default="user_id")
    t.add_argument("--item-col", default="item_id")
    t.add_argument("--time-col", default="timestamp", help="empty string: no time column, file order is chronological")
    t.add_argument("--time-unit", default="auto", choices=("auto", "s", "ms", "iso"))
    t.add_argument("--item-key-col", default=None, help="item key column of the item table (default: --item-col)")
    t.add_argument("--title-col", default="title")
    t.add_argument("--brand-col", default="brand")
    t.add_argument("--categories-col", default="categories")
    t.add_argument("--category-path-col", default="category_path")
    t.add_argument("--description-col", default="description")
    t.add_argument("--list-separator", default="|")
    y = prep.add_argument_group("Yelp")
    y.add_argument("--date-from", default=None)
    y.add_argument("--date-to", default=None)
    _add_prepare_options(prep)
    prep.set_defaults(func=cmd_prepare)

    sids = sub.add_parser("build-sids", help="item embeddings -> semantic IDs, SID tokenizer and quality report")
    sids.add_argument("--data", required=True, help="a prepared dataset folder (hf-genrec prepare)")
    sids.add_argument("--out", required=True)
    sids.add_argument("--quantizer", default="rqkmeans", choices=QUANTIZERS)
    sids.add_argument("--levels", type=POSITIVE, default=3)
    sids.add_argument("--codebook-size", type=AT_LEAST_TWO, default=256)
    sids.add_argument("--collisions", default=None, choices=COLLISION_MODES,
                      help="default suffix; with --import: none (keep the imported codes) or suffix (add a level)")
    sids.add_argument("--seed", type=int, default=0)
    sids.add_argument("--overwrite", action="store_true")
    sids.add_argument("--embeddings", default="content", choices=EMBEDDING_SOURCES,
                      help="what RQ-KMeans / RQ-VAE / VQ-VAE encode: content (the prepared text embeddings, the "
                           "papers' choice), collab (LightGCN item embeddings of the training split, cached in the "
                           "prepared folder; --lightgcn-max-minutes) or content+collab (both, each L2-normalised)")
    v = sids.add_argument_group("RQ-VAE / VQ-VAE")
    v.add_argument("--epochs", type=POSITIVE, default=None, help="default 100 (PRISM: its preset's 500)")
    v.add_argument("--beta", type=_number(float, 0), default=None,
                   help="commitment weight (default 0.25: TIGER/DECOR/PRISM; ComeIR uses 1.0)")
    v.add_argument("--lr", type=_number(float, 0, strict=True), default=None, help="default 1e-3 (PRISM: 1e-4)")
    v.add_argument("--batch-size", type=POSITIVE, default=None, help="default 1024 (PRISM: 512)")
    v.add_argument("--latent-dim", type=POSITIVE, default=None)
    v.add_argument("--ema", action="store_true", help="EMA codebook updates")
    v.add_argument("--no-dead-code-reset", action="store_true")
    v.add_argument("--no-kmeans-init", action="store_true")
    p = sids.add_argument_group("PRISM (Purified Semantic Quantizer; LightGCN, popularity and category tags)")
    p.add_argument("--preset", default="paper", choices=("paper", "official"),
                   help="paper: PRISM Sec. 3.3 / 4.1; official: the authors' code at commit 2c5e414")
    p.add_argument("--without", action="append", choices=("acd", "hsa", "dhr"),
                   help="Table 4 ablation: switch a component off (repeatable)")
    p.add_argument("--max-minutes", type=_number(float, 0, strict=True), default=None,
                   help="stop the quantizer's training after this many minutes")
    p.add_argument("--lightgcn-max-minutes", type=_number(float, 0, strict=True), default=None,
                   help="stop LightGCN's training after this many minutes (cached in the prepared folder; also for "
                        "--embeddings collab / content+collab)")
    k = sids.add_argument_group("RQ-KMeans")
    k.add_argument("--balanced", action="store_true", help="balanced cluster sizes at every level")
    k.add_argument("--kmeans-iterations", type=POSITIVE, default=50)
    i = sids.add_argument_group("imported SIDs (instead of fitting a quantizer; no quantizer/ is written)")
    i.add_argument("--import", dest="import_path", default=None, metavar="FILE",
                   help="published SIDs mapped onto --data's items by item key")
    i.add_argument("--import-format", default="letter", choices=SID_IMPORT_FORMATS,
                   help="letter: LETTER / LC-Rec .index.json; table: item key + one code per level (CSV, TSV, JSON "
                        "lines); beauty-letter: the letter_sid field of an items.jsonl (Beauty)")
    i.add_argument("--import-key-column", default=None,
                   help="item key column of a table (default: item_id, asin, ... or the first column)")
    i.add_argument("--codebook-sizes", type=_ks, default=None, metavar="K1,K2,...",
                   help="codebook size per level of the imported codes (one number: every level; default max code + 1)")
    i.add_argument("--ignore-unknown-items", action="store_true",
                   help="drop imported items that --data does not have instead of failing")
    sids.set_defaults(func=cmd_build_sids)

    exp = sub.add_parser("export-sids", help="a SIDs folder -> LETTER .index.json or an item-to-codes table")
    exp.add_argument("--sids", required=True, help="an hf-genrec build-sids output folder")
    exp.add_argument("--data", required=True, help="the prepared dataset the SIDs were built for (item keys)")
    exp.add_argument("--format", default="letter", choices=SID_EXPORT_FORMATS,
                     help="letter: LETTER / LC-Rec .index.json; table: item_id, code_1..code_L (.csv, .tsv or .jsonl "
                          "by the file name)")
    exp.add_argument("--out", required=True, help="the file to write (summary: <out>.summary.json)")
    exp.add_argument("--overwrite", action="store_true")
    exp.set_defaults(func=cmd_export_sids)

    ev = sub.add_parser("evaluate", help="full-ranking Recall/NDCG@K of a saved model on a prepared split")
    ev.add_argument("--model", required=True, help="a saved hf_genrec model folder (with its tokenizer)")
    ev.add_argument("--data", required=True, help="the prepared dataset folder")
    ev.add_argument("--split", default="test", choices=("train", "validation", "test"))
    ev.add_argument("--out", default=None,
                    help="where metrics.json and summary.json go (default: runs/evaluate/<model name>-<split>)")
    ev.add_argument("--num-beams", type=POSITIVE, default=None, help="beam width (default: the model's generation_config)")
    ev.add_argument("--batch-size", type=POSITIVE, default=64)
    ev.add_argument("--ks", type=_ks, default=(5, 10, 20), help="cut-offs K, e.g. 5,10,20")
    ev.add_argument("--max-users", type=POSITIVE, default=None, help="evaluate N users drawn at random (a fixed seed: the same users every time)")
    ev.add_argument("--tokenizer", default=None, help="tokenizer folder when not inside --model")
    ev.add_argument("--device", default=None)
    ev.set_defaults(func=cmd_evaluate)

    train = sub.add_parser("train", help="train a model from a YAML run config (also under accelerate launch)")
    train.add_argument("--config", required=True, help="e.g. examples/configs/tiger_synthetic.yaml")
    train.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. training.learning_rate=1e-3")
    train.add_argument("--overwrite", action="store_true",
                       help="a fresh run replaces another run's checkpoints and model in training.output_dir")
    train.set_defaults(func=cmd_train)

    rec = sub.add_parser("recommend", help="top-K recommendations of a saved model for one history")
    rec.add_argument("--model", required=True, help="a model folder or Hub repo id")
    rec.add_argument("--history", required=True,
                     help="item ids, titles or item indices, separated by ',' or '|' (id:X / idx:N when ambiguous)")
    rec.add_argument("--top-k", type=POSITIVE, default=10)
    rec.add_argument("--num-beams", type=POSITIVE, default=None,
                     help="beam width (default: the model's generation_config; at least --top-k)")
    rec.add_argument("--out", default="runs/recommend", help="where recommendations.json and summary.json go")
    rec.set_defaults(func=cmd_recommend)

    srv = sub.add_parser("serve", help="serve a saved model over HTTP (POST /recommend, GET /health, GET /stats)")
    srv.add_argument("--model", required=True, help="a model folder or Hub repo id")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    srv.add_argument("--port", type=_number(int, 0), default=8000, help="port (0: any free port, see the summary)")
    srv.add_argument("--max-batch-size", type=POSITIVE, default=32,
                     help="most histories answered by one model.generate call (dynamic batching)")
    srv.add_argument("--max-wait-ms", type=_number(float, 0), default=5.0,
                     help="how long a batch waits for more requests after its first one")
    srv.add_argument("--no-batching", action="store_true", help="one generate call per history (for comparison)")
    srv.add_argument("--num-beams", type=POSITIVE, default=None,
                     help="beam width (default: the model's generation_config; at least the request's top_k)")
    srv.add_argument("--max-top-k", type=POSITIVE, default=100, help="largest top_k a request may ask for")
    srv.add_argument("--tokenizer", default=None, help="tokenizer folder when not inside --model")
    srv.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    srv.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    srv.add_argument("--access-log", action="store_true", help="log every request")
    srv.add_argument("--out", default="runs/serve", help="where serve_summary.json goes")
    srv.set_defaults(func=cmd_serve)

    push = sub.add_parser("push", help="push a model folder or a prepared dataset to the Hugging Face Hub")
    push.add_argument("--model", default=None, help="a saved model folder")
    push.add_argument("--data", default=None, help="a prepared dataset folder (pushed as Parquet + dataset card)")
    push.add_argument("--repo", required=True, help="repository id, e.g. org/tiger-beauty")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", default=None, help="default: the logged-in token or HF_TOKEN")
    push.add_argument("--revision", default=None)
    push.add_argument("--endpoint", default=None, help="a Hub endpoint other than huggingface.co")
    push.add_argument("--remote-code", action="store_true",
                      help="bundle the modeling code so the repo loads with trust_remote_code=True without hf_genrec")
    push.add_argument("--allow-restricted", action="store_true",
                      help="push data, or a model trained on data, whose licence restricts redistribution")
    push.add_argument("--out", default="runs/push", help="where summary.json goes")
    push.set_defaults(func=cmd_push)

    syn = sub.add_parser("synthetic", help="write the embedded default catalog (two-file format)")
    syn.add_argument("--out", required=True)
    syn.add_argument("--users", type=POSITIVE, default=3000)
    syn.add_argument("--items", type=POSITIVE, default=1200)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--overwrite", action="store_true")
    syn.set_defaults(func=cmd_synthetic)

    rep = sub.add_parser("reproduce", help="reproduce a paper table: data, SIDs, training, evaluation, report")
    rep.add_argument("--paper", required=True, help="e.g. intrr (hf_genrec.reproduce.TABLES lists what is known)")
    rep.add_argument("--table", required=True, help="the paper's table number, e.g. 1")
    rep.add_argument("--dataset", required=True, help="e.g. beauty")
    rep.add_argument("--tier", default="cpu", choices=("cpu", "gpu", "test"),
                     help="cpu: budgeted runs for 2 CPU cores; gpu: the paper settings; test: seconds")
    rep.add_argument("--seeds", type=POSITIVE, default=1, help="seeds 42, 43, ... (mean and std are reported)")
    rep.add_argument("--first-seed", type=int, default=42,
                     help="the first seed (default 42): e.g. --first-seed 43 --seeds 2 runs seeds 43 and 44 only")
    rep.add_argument("--only", default=None, help="comma-separated experiment keys of the table")
    rep.add_argument("--out", default=None, help="default runs/reproduce/<paper>-<table>-<dataset>-<tier>")
    rep.add_argument("--shared", default=None, help="the shared/ folder holding datasets/ (default ../shared)")
    rep.add_argument("overrides", nargs="*", help="section.key=value overrides applied to every run")
    rep.set_defaults(func=cmd_reproduce)

    quick = sub.add_parser("quickstart", help="run the main job on the embedded default")
    quick.add_argument("--out", default="runs/quickstart")
    quick.add_argument("--data", default=None, help="use this dataset folder instead of the synthetic catalog")
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--encoder", default=DEFAULT_ENCODER)
    quick.add_argument("--epochs", type=_number(float, 0, strict=True), default=None,
                       help="training epochs of the quickstart model (default 25 sequence epochs, a few minutes)")
    quick.add_argument("--no-train", action="store_true", help="stop after the semantic IDs")
    quick.set_defaults(func=cmd_quickstart)
    return parser


def _is_input_error(error: BaseException) -> bool:
    """Errors that mean bad input (reported in one line, exit status 2) rather than a bug (traceback)."""
    if isinstance(error, (FileExistsError, FileNotFoundError, PermissionError, ValueError)):
        return True
    hub_errors = sys.modules.get("hf_genrec.hub.push")  # imported by the command that could raise it
    return hub_errors is not None and isinstance(error, hub_errors.HubPushError)


def _erase_progress_bars() -> None:
    """Remove the progress bars an error interrupted, so that the error message stands on a line of its own."""
    tqdm = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", None) or []):
        bar.leave = False
        bar.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not os.environ.get("HF_GENREC_VERBOSITY"):  # the command line shows hf_genrec's progress messages
        from .utils.logging import set_verbosity

        set_verbosity("info")
    try:
        args.func(args)
    except Exception as err:  # noqa: BLE001 - sorted into input errors and bugs just below
        if not _is_input_error(err) or os.environ.get("HF_GENREC_DEBUG") == "1":
            raise
        _erase_progress_bars()
        message = " ".join(str(err).split()) or type(err).__name__  # one line, whatever the message held
        print(f"hf-genrec {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
