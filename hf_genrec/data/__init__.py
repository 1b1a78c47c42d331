"""Data: readers for public formats, preprocessing (k-core, leave-one-out), prepared datasets.

Typical use::

    from hf_genrec.data import read_dataset, prepare_dataset, PrepareConfig

    log = read_dataset("../shared/datasets/amazon-beauty-2014")
    prepared = prepare_dataset(log, PrepareConfig(max_history=20))
    prepared.save("runs/beauty/prepared")
"""

from .errors import DataFormatError
from .prepared import PrepareConfig, PreparedDataset, format_statistics, prepare_dataset
from .readers import (InteractionColumns, ItemColumns, detect_format, load_amazon2023_from_hub, read_amazon2014,
                      read_amazon2023, read_dataset, read_table_pair, read_two_file, read_yelp)
from .schema import InteractionLog
from .synthetic import SyntheticConfig, generate_synthetic

__all__ = [
    "DataFormatError", "InteractionColumns", "InteractionLog", "ItemColumns", "PrepareConfig", "PreparedDataset",
    "SyntheticConfig", "detect_format", "format_statistics", "generate_synthetic", "load_amazon2023_from_hub",
    "prepare_dataset", "read_amazon2014", "read_amazon2023", "read_dataset", "read_table_pair", "read_two_file",
    "read_yelp",
]
