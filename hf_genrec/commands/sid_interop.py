"""``hf-genrec build-sids --import`` and ``hf-genrec export-sids``: published semantic IDs in, ours out.

An import writes the folder ``build-sids`` writes, without ``quantizer/``: ``tokenizer/`` (an ``SIDTokenizer`` over
the prepared dataset's items), ``sid_quality.png`` and ``summary.json`` (SID quality, the SIDs several items share,
what was read). Models that read the quantizer's codebooks (DECOR, PRISM) need SIDs built with a quantizer.
The file formats are in :mod:`hf_genrec.tokenization.interop`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from .._version import __version__
from ..data import PreparedDataset
from ..defaults import SID_EXPORT_FORMATS, SID_IMPORT_FORMATS
from ..utils.io import atomic_output_dir, atomic_write_json, check_output_folder_is_not_an_input, output_lock
from .build_sids import plot_sid_tables, reference_sid_tables, sid_round_trip
from .common import SUMMARY_FILE, now, writing

#: collision modes of an import: keep the imported codes, or add TIGER's suffix level
IMPORT_COLLISIONS = ("none", "suffix")


def run_import_sids(prepared_dir: str | os.PathLike, source: str | os.PathLike, out: str | os.PathLike,
                    fmt: str = "letter", collisions: str = "none", codebook_sizes: Optional[Sequence[int]] = None,
                    key_column: Optional[str] = None, ignore_unknown: bool = False,
                    overwrite: bool = False) -> Dict[str, Any]:
    """Map a published SID table (``source``, in format ``fmt``) onto a prepared dataset's items and write a SIDs
    folder: ``tokenizer/``, ``sid_quality.png`` and ``summary.json``.

    ``collisions="none"`` keeps the imported codes as they are (they may already hold a collision level, as LETTER's
    fourth level does; SIDs shared by several items are reported in the summary); ``"suffix"`` appends TIGER's
    suffix level. Codebook sizes are ``max code + 1`` per level unless ``codebook_sizes`` gives them."""
    import torch

    from ..quantization import sid_quality, suffix_codes
    from ..tokenization import SIDTokenizer
    from ..tokenization.interop import align_sids, duplicate_sids, item_labels, read_sids

    if fmt not in SID_IMPORT_FORMATS:
        raise ValueError(f"unknown SID import format {fmt!r}; use one of {', '.join(SID_IMPORT_FORMATS)}")
    if collisions not in IMPORT_COLLISIONS:
        raise ValueError(f"imported SIDs keep their codes (--collisions none) or get a suffix level (--collisions "
                         f"suffix); {collisions!r} needs a quantizer, so build the SIDs with one instead")
    if not Path(source).exists():
        raise FileNotFoundError(f"{source} does not exist")
    out = Path(out)
    with writing(out, overwrite, inputs=[prepared_dir, source]):
        started = now()
        prepared = PreparedDataset.load(prepared_dir)
        t = time.perf_counter()
        imported = read_sids(source, fmt, key_column=key_column)
        item_keys = [str(key) for key in prepared.items["item_id"]]
        codes, sizes, report = align_sids(imported, item_labels(prepared.items, fmt), codebook_sizes, ignore_unknown,
                                          item_ids=item_keys)
        final, final_sizes = codes, sizes
        if collisions == "suffix":
            suffixed, suffix_size = suffix_codes(torch.as_tensor(codes))
            final, final_sizes = suffixed.numpy(), [*sizes, suffix_size]
        tokenizer = SIDTokenizer.from_sids(final, final_sizes, collisions=collisions, item_keys=item_keys)
        seconds = round(time.perf_counter() - t, 3)
        quality_before = sid_quality(codes, sizes)
        published = reference_sid_tables(prepared.items)
        summary: Dict[str, Any] = {
            "command": "build-sids", "hf_genrec_version": __version__, "started": started,
            "inputs": {"prepared": os.fspath(prepared_dir), "items": prepared.num_items, "import": os.fspath(source),
                       "import_format": fmt},
            "quantizer": {"quantizer_type": "imported", "import_format": fmt, "levels": len(sizes),
                          "codebook_sizes": sizes},
            "seconds": seconds, "collisions": collisions, "codebook_sizes": final_sizes,
            "quality_before_collision_handling": quality_before,
            "quality": sid_quality(final, final_sizes) if collisions == "suffix" else quality_before,
            "collision_handling": {"mode": collisions, "kept_imported_codes": collisions == "none",
                                   "duplicates": duplicate_sids(codes, item_keys)},
            "imported": report, "round_trip_ok": sid_round_trip(tokenizer),
            "reference_sids": {name: sid_quality(c, s) for name, (c, s) in published.items()},
        }
        with atomic_output_dir(out, overwrite, inputs=[prepared_dir, source], command="build-sids") as tmp:
            tokenizer.save_pretrained(tmp / "tokenizer")
            tables = {f"imported {fmt}": (codes, sizes)}
            if collisions == "suffix":
                tables[f"imported {fmt} + suffix"] = (final, final_sizes)
            tables.update({f"published {name}": table for name, table in published.items()})
            plot_sid_tables(tables, tmp / "sid_quality.png",
                            title=f"code usage per level - {prepared.name} ({fmt} SIDs from {Path(source).name})")
            summary.update({"outputs": {"tokenizer": str(out / "tokenizer"), "plot": str(out / "sid_quality.png")},
                            "finished": now()})
            atomic_write_json(tmp / SUMMARY_FILE, summary)
        return summary


def export_summary_path(out: str | os.PathLike) -> Path:
    """Where ``export-sids`` writes its summary: ``<out>.summary.json`` beside the exported file."""
    out = Path(out)
    return out.with_name(out.name + ".summary.json")


def run_export_sids(sids_dir: str | os.PathLike, prepared_dir: str | os.PathLike, out: str | os.PathLike,
                    fmt: str = "letter", overwrite: bool = False) -> Dict[str, Any]:
    """Write the SIDs of a ``build-sids`` folder as a LETTER ``.index.json`` or a plain item-to-codes table (keys
    from the prepared dataset the SIDs were built for); the summary goes to ``<out>.summary.json``."""
    from ..tokenization import SIDTokenizer
    from ..tokenization.interop import write_sids

    if fmt not in SID_EXPORT_FORMATS:
        raise ValueError(f"unknown SID export format {fmt!r}; use one of {', '.join(SID_EXPORT_FORMATS)}")
    out, summary_path = Path(out), export_summary_path(out)
    check_output_folder_is_not_an_input(out, [sids_dir, prepared_dir])
    with output_lock(out):
        for path in (out, summary_path):
            if path.is_dir():
                raise FileExistsError(f"output path {path} is a folder; --out names the file to write")
            if path.exists() and not overwrite:
                raise FileExistsError(f"output file {path} already exists (use --overwrite to replace it)")
        started = now()
        folder = Path(sids_dir) / "tokenizer"
        if not folder.is_dir():
            raise FileNotFoundError(f"{sids_dir} has no tokenizer/ folder; is it an hf-genrec build-sids output?")
        tokenizer = SIDTokenizer.from_pretrained(folder)
        prepared = PreparedDataset.load(prepared_dir)
        item_keys = [str(key) for key in prepared.items["item_id"]]
        if tokenizer.num_items != prepared.num_items or (tokenizer.item_keys is not None and
                                                         [str(k) for k in tokenizer.item_keys] != item_keys):
            raise ValueError(f"the SIDs in {sids_dir} ({tokenizer.num_items} items) were not built for the items of "
                             f"{prepared_dir} ({prepared.num_items} items): pass the prepared dataset they came from")
        write_sids(out, fmt, tokenizer.item_sid_table.numpy(), prepared.items)
        summary = {"command": "export-sids", "hf_genrec_version": __version__, "started": started,
                   "inputs": {"sids": os.fspath(sids_dir), "prepared": os.fspath(prepared_dir)}, "format": fmt,
                   "items": tokenizer.num_items, "levels": tokenizer.num_levels,
                   "codebook_sizes": tokenizer.codebook_sizes, "collisions": tokenizer.collisions,
                   "outputs": {"file": str(out), "summary": str(summary_path)}, "finished": now()}
        atomic_write_json(summary_path, summary)
        return summary
