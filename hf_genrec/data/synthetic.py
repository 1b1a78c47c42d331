"""The embedded default dataset: a synthetic catalog with real structure, deterministic by seed.

* A 3-level category tree (6 departments x 3 categories x 3 leaf product types).
* Brands tied to departments; titles built from brand, an attribute word, the product type and a
  variant, so that the sentence encoder puts related items close together (as on real catalogs).
* Zipf-like item popularity inside every leaf.
* Users with one or two favourite departments whose next item follows category-level Markov
  preferences: stay in the leaf (sometimes moving to the next item of the same product series), move to
  a sibling leaf, to another category of the department, to one of two fixed "complementary" leaves
  of another department, or (with probability ``noise``) to any item.
* A lasting taste per user: a favourite brand and attribute word in each favourite department. Inside a leaf, an
  item's chance is its popularity times ``1 + taste_strength`` for each of the two it matches. The taste is
  visible only across the whole history (and in the titles the SIDs are built from), not in the last item alone.

Calibration against Amazon Beauty 2014 (median length 6, mean 8.9; the item-transition model's validation Recall@10
0.081 and most-popular's 0.003 over 12,101 items): the defaults (``mean_length`` 9, ``stay_in_leaf`` 0.2,
``series_step`` 0.1, ``noise`` 0.2, ``taste_strength`` 6) give median 8 / mean 9.0 for a catalog ten times smaller,
test Recall@10 0.16 for the transition model and 0.05 for most-popular, where the earlier, nearly first-order
defaults (``series_step`` 0.6, ``noise`` 0.1, ``stay_in_leaf`` 0.3, no taste) gave 0.34: the next item now depends on
the whole history, and SASRec trained at sequence level reaches test Recall@10 0.23 on it (seed 42).
* Day-resolution timestamps with same-day ties, as in the Amazon 2014 data.

The files are written in the two-file layout of ``../shared/datasets`` (``interactions.tsv`` +
``items.jsonl``), so the quickstart exercises exactly the reader used for the real benchmarks.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import numpy as np

from ..utils.io import atomic_output_dir, atomic_write_json

TAXONOMY: Dict[str, Dict[str, List[str]]] = {
    "Beauty": {"Makeup": ["Lipstick", "Mascara", "Foundation"], "Skin Care": ["Moisturizer", "Cleanser", "Sunscreen"],
               "Hair Care": ["Shampoo", "Conditioner", "Hair Oil"]},
    "Sports": {"Fitness": ["Yoga Mat", "Dumbbell", "Resistance Band"],
               "Cycling": ["Bike Helmet", "Cycling Gloves", "Bike Light"],
               "Camping": ["Tent", "Sleeping Bag", "Camping Stove"]},
    "Toys": {"Building": ["Building Blocks", "Construction Set", "Magnetic Tiles"],
             "Puzzles": ["Jigsaw Puzzle", "Brain Teaser", "3D Puzzle"], "Dolls": ["Fashion Doll", "Dollhouse", "Baby Doll"]},
    "Kitchen": {"Cookware": ["Frying Pan", "Saucepan", "Dutch Oven"],
                "Coffee": ["Coffee Grinder", "French Press", "Espresso Cups"],
                "Baking": ["Baking Sheet", "Mixing Bowl", "Cake Pan"]},
    "Electronics": {"Audio": ["Headphones", "Bluetooth Speaker", "Earbuds"],
                    "Computers": ["Keyboard", "Computer Mouse", "USB Hub"],
                    "Cameras": ["Camera Lens", "Tripod", "Memory Card"]},
    "Garden": {"Plants": ["Seed Kit", "Flower Pot", "Potting Soil"], "Tools": ["Pruning Shears", "Garden Hose", "Trowel"],
               "Outdoor Decor": ["Solar Lights", "Bird Feeder", "Wind Chime"]},
}

ATTRIBUTES: Dict[str, List[str]] = {
    "Beauty": ["Matte", "Hydrating", "Long-Lasting", "Organic", "Radiant", "Sensitive-Skin"],
    "Sports": ["Lightweight", "Heavy-Duty", "Waterproof", "Compact", "Adjustable", "Pro"],
    "Toys": ["Educational", "Colorful", "Classic", "Deluxe", "Mini", "Creative"],
    "Kitchen": ["Nonstick", "Stainless Steel", "Cast Iron", "Ceramic", "Glass", "Bamboo"],
    "Electronics": ["Wireless", "Noise-Cancelling", "Ergonomic", "4K", "Portable", "Rechargeable"],
    "Garden": ["Weatherproof", "Eco-Friendly", "Solar", "Ergonomic", "Rustic", "Self-Watering"],
}
VARIANTS = ["Red", "Blue", "Black", "White", "Green", "Small", "Large", "Pack of 2", "Pack of 3", "Travel Size",
            "Gift Set", "Limited Edition"]
SYLLABLES = ["lu", "mo", "ra", "vi", "ta", "ken", "sol", "dar", "ni", "qua", "zen", "bel", "ori", "fa", "ly", "x"]


@dataclass
class SyntheticConfig:
    """Size and behaviour of the synthetic catalog (defaults: ~3k users, 1.2k items, ~30k interactions)."""

    num_users: int = 3000
    num_items: int = 1200
    seed: int = 0
    min_length: int = 5
    mean_length: float = 9.0
    max_length: int = 60
    brands_per_department: int = 4
    stay_in_leaf: float = 0.20
    series_step: float = 0.10  # within a leaf, probability of taking the next item of the same series
    sibling_leaf: float = 0.20
    same_department: float = 0.10
    complementary_leaf: float = 0.25
    noise: float = 0.20
    favourite_department_bias: float = 0.7
    taste_strength: float = 6.0  # weight of a matching favourite brand / attribute inside a leaf (0: no taste)


def _leaves() -> List[Tuple[str, str, str]]:
    return [(top, mid, leaf) for top, mids in TAXONOMY.items() for mid, leaves in mids.items() for leaf in leaves]


def _brand_names(rng: np.random.Generator, count: int) -> List[str]:
    names: List[str] = []
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))).capitalize()
        if name not in names and len(name) > 3:
            names.append(name)
    return names


class _Catalog:
    """Items, their leaves and the leaf-level transition matrix."""

    def __init__(self, config: SyntheticConfig, rng: np.random.Generator):
        self.leaves = _leaves()
        tops = list(TAXONOMY)
        num_leaves = len(self.leaves)
        if config.num_items < num_leaves * 3:
            raise ValueError(f"num_items must be at least {num_leaves * 3} (3 per leaf)")
        brands = _brand_names(rng, config.brands_per_department * len(tops))
        self.department_brands = {top: brands[i::len(tops)] for i, top in enumerate(tops)}
        # leaf sizes: at least 3 items each, the rest spread by Dirichlet weights
        extra = rng.multinomial(config.num_items - 3 * num_leaves, rng.dirichlet(np.full(num_leaves, 2.0)))
        sizes = extra + 3
        self.item_leaf = np.repeat(np.arange(num_leaves), sizes)
        self.leaf_items = [np.flatnonzero(self.item_leaf == leaf) for leaf in range(num_leaves)]
        # Zipf-like popularity within each leaf, in a random order
        self.popularity = np.zeros(config.num_items)
        for items in self.leaf_items:
            weights = 1.0 / np.arange(1, len(items) + 1) ** 0.9
            self.popularity[items] = rng.permutation(weights)
        drawn = [self._item_record(i, rng) for i in range(config.num_items)]
        self.records = [record for record, _ in drawn]
        self.item_brand = np.array([record["brand"] for record in self.records])
        self.item_attribute = np.array([attribute for _, attribute in drawn])
        self.leaf_top = np.array([tops.index(top) for top, _, _ in self.leaves])
        self.transition = self._leaf_transitions(config, rng)

    def _item_record(self, item: int, rng: np.random.Generator) -> Tuple[Dict[str, object], str]:
        """The item's ``items.jsonl`` record and its attribute word."""
        top, mid, leaf = self.leaves[self.item_leaf[item]]
        brand = str(rng.choice(self.department_brands[top]))
        attribute = str(rng.choice(ATTRIBUTES[top]))
        variant = str(rng.choice(VARIANTS))
        title = f"{brand} {attribute} {leaf}, {variant}"
        description = f"A {attribute.lower()} {leaf.lower()} by {brand} for everyday {mid.lower()}."
        return {"item_id": f"SYN{item:06d}", "title": title, "brand": brand, "category_path": [top, mid, leaf],
                "description": description}, attribute

    def _leaf_transitions(self, config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
        num_leaves = len(self.leaves)
        matrix = np.zeros((num_leaves, num_leaves))
        for a, (top, mid, _) in enumerate(self.leaves):
            siblings = [b for b, (t, m, _) in enumerate(self.leaves) if t == top and m == mid and b != a]
            cousins = [b for b, (t, m, _) in enumerate(self.leaves) if t == top and m != mid]
            others = [b for b, (t, _, _) in enumerate(self.leaves) if t != top]
            complements = rng.choice(others, size=2, replace=False)
            matrix[a, a] += config.stay_in_leaf
            matrix[a, siblings] += config.sibling_leaf / len(siblings)
            matrix[a, cousins] += config.same_department / len(cousins)
            matrix[a, complements] += config.complementary_leaf / 2
        return matrix / matrix.sum(axis=1, keepdims=True)


def _simulate_user(catalog: _Catalog, config: SyntheticConfig, rng: np.random.Generator) -> List[int]:
    num_items = len(catalog.item_leaf)
    length = min(config.max_length, config.min_length + rng.geometric(1.0 / max(1.0, config.mean_length - config.min_length + 1)) - 1)
    favourites = rng.choice(len(TAXONOMY), size=rng.integers(1, 3), replace=False)
    tops = list(TAXONOMY)
    brands = [str(rng.choice(catalog.department_brands[tops[f]])) for f in favourites]
    attributes = [str(rng.choice(ATTRIBUTES[tops[f]])) for f in favourites]
    taste = (1.0 + config.taste_strength * np.isin(catalog.item_brand, brands)) * \
        (1.0 + config.taste_strength * np.isin(catalog.item_attribute, attributes))
    start_leaves = np.flatnonzero(np.isin(catalog.leaf_top, favourites))
    leaf = int(rng.choice(start_leaves))
    items = catalog.leaf_items[leaf]
    weights = catalog.popularity[items] * taste[items]
    item = int(rng.choice(items, p=weights / weights.sum()))
    sequence = [item]
    while len(sequence) < length:
        if rng.random() < config.noise:
            item = int(rng.integers(num_items))
        else:
            probs = catalog.transition[leaf].copy()
            fav = np.isin(catalog.leaf_top, favourites)
            probs = probs * np.where(fav, 1.0 + config.favourite_department_bias, 1.0 - config.favourite_department_bias)
            next_leaf = int(rng.choice(len(probs), p=probs / probs.sum()))
            items = catalog.leaf_items[next_leaf]
            if next_leaf == leaf and rng.random() < config.series_step:
                position = int(np.searchsorted(items, item))
                item = int(items[(position + 1) % len(items)])  # next item of the same series
            else:
                weights = catalog.popularity[items] * taste[items] * (items != item)
                item = int(rng.choice(items, p=weights / weights.sum()))
        leaf = int(catalog.item_leaf[item])
        sequence.append(item)
    return sequence


def generate_synthetic(out_dir: str | os.PathLike, config: SyntheticConfig | None = None, overwrite: bool = False) -> Dict[str, object]:
    """Write ``interactions.tsv``, ``items.jsonl`` and ``SOURCE.txt`` to ``out_dir``; return a summary."""
    from ..utils.progress import progress

    config = config or SyntheticConfig()
    rng = np.random.default_rng(config.seed)
    catalog = _Catalog(config, rng)
    sequences = [_simulate_user(catalog, config, rng) for _ in progress(range(config.num_users), desc="simulating users",
                                                                         unit="user")]
    # number items by first appearance, as the P5/S3-Rec files do
    order: Dict[int, int] = {}
    for sequence in sequences:
        for item in sequence:
            order.setdefault(item, len(order) + 1)
    for item in range(len(catalog.item_leaf)):
        order.setdefault(item, len(order) + 1)
    start = np.datetime64("2019-01-01").astype("datetime64[s]").astype(np.int64)
    day = 86_400
    lines = ["user_id\titem_id\ttimestamp\tuser_idx\titem_idx\tposition"]
    for user, sequence in enumerate(sequences):
        t = start + int(rng.integers(0, 730)) * day
        for position, item in enumerate(sequence):
            if position:
                t += 0 if rng.random() < 0.15 else int(1 + rng.exponential(7.0)) * day
            lines.append(f"U{user:06d}\t{catalog.records[item]['item_id']}\t{t}\t{user + 1}\t{order[item]}\t{position}")
    items_jsonl = [json.dumps({"item_idx": order[i], **catalog.records[i]})
                   for i in sorted(range(len(catalog.item_leaf)), key=order.__getitem__)]
    with atomic_output_dir(out_dir, overwrite=overwrite, command="synthetic") as tmp:
        (tmp / "interactions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tmp / "items.jsonl").write_text("\n".join(items_jsonl) + "\n", encoding="utf-8")
        (tmp / "SOURCE.txt").write_text(
            "hf_genrec synthetic catalog (embedded default)\n"
            f"generated by hf_genrec.data.synthetic with {json.dumps(asdict(config))}\n", encoding="utf-8")
        atomic_write_json(tmp / "synthetic_config.json", asdict(config))
    return {"folder": os.fspath(out_dir), "users": config.num_users, "items": len(catalog.item_leaf),
            "interactions": sum(len(s) for s in sequences), "leaves": len(catalog.leaves), "seed": config.seed}
