"""Prepare your own data: an interaction table and an item table with your column names.

Run: .venv/bin/python examples/prepare_custom_table.py  (writes a tiny demo into runs/custom/)
"""

from pathlib import Path

import pandas as pd

from hf_genrec.data import InteractionColumns, ItemColumns, PrepareConfig, prepare_dataset, read_table_pair
from hf_genrec.embeddings import ItemEncoder, save_item_embeddings

root = Path("runs/custom")
root.mkdir(parents=True, exist_ok=True)
# A demo shop log with its own column names (replace by your files).
events = pd.DataFrame({"customer": ["c1"] * 4 + ["c2"] * 3, "sku": ["s1", "s2", "s3", "s1", "s2", "s3", "s1"],
                       "ts": [1_600_000_000_000 + k * 60_000 for k in range(7)]})
products = pd.DataFrame({"sku": ["s1", "s2", "s3"], "name": ["Red Mug", "Blue Cup", "Tea Pot"],
                         "tags": ["kitchen;mugs", "kitchen;cups", "kitchen;tea"]})
events.to_csv(root / "events.csv", index=False)
products.to_parquet(root / "products.parquet")

log = read_table_pair(root / "events.csv", root / "products.parquet",
                      InteractionColumns(user="customer", item="sku", timestamp="ts", timestamp_unit="ms"),
                      ItemColumns(item="sku", title="name", categories="tags", list_separator=";"))
prepared = prepare_dataset(log, PrepareConfig(min_user_interactions=1, min_item_interactions=1, max_history=20))
print(prepared.statistics)
embeddings, info = ItemEncoder().encode(prepared.items["text"])
prepared.save(root / "prepared", overwrite=True)
save_item_embeddings(root / "prepared" / "item_embeddings.safetensors", embeddings, {"model": info["model"]})
print("saved to", root / "prepared")
