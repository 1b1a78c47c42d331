"""Writers for small fixture files in the exact public formats the readers accept."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Dict, List, Sequence


def write_two_file(folder: Path, sequences: Dict[str, Sequence[str]], items: Dict[str, Dict] | None = None,
                   timestamps: Dict[str, Sequence[int]] | None = None, item_column: str = "item_id",
                   source_text: str | None = None) -> Path:
    """``interactions.tsv`` (+ ``items.jsonl``) like ../shared/datasets: grouped by user, 1-based idx."""
    folder.mkdir(parents=True, exist_ok=True)
    order: Dict[str, int] = {}
    header = ["user_id", item_column] + (["timestamp"] if timestamps is not None else []) + ["user_idx", "item_idx", "position"]
    lines = ["\t".join(header)]
    for u, (user, seq) in enumerate(sequences.items(), start=1):
        for pos, item in enumerate(seq):
            order.setdefault(item, len(order) + 1)
            row = [user, item] + ([str(timestamps[user][pos])] if timestamps is not None else []) + [str(u), str(order[item]), str(pos)]
            lines.append("\t".join(row))
    (folder / "interactions.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if items is not None:
        key = "asin" if item_column == "item_id" else item_column
        rows = [json.dumps({"item_idx": order.get(item, 0), key: item, **fields}) for item, fields in items.items()]
        (folder / "items.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    if source_text is not None:
        (folder / "SOURCE.txt").write_text(source_text, encoding="utf-8")
    return folder


def write_gz_lines(path: Path, lines: List[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_lines(path: Path, lines: List[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def amazon2014_files(folder: Path) -> tuple[Path, Path]:
    """reviews_Beauty_5.json.gz (strict JSON) + meta_Beauty.json.gz (Python-literal dicts), as published."""
    reviews = [
        {"reviewerID": "U1", "asin": "B01", "reviewerName": "Ann", "helpful": [0, 0], "reviewText": "nice",
         "overall": 5.0, "summary": "ok", "unixReviewTime": 1318896000, "reviewTime": "10 18, 2011"},
        {"reviewerID": "U1", "asin": "B02", "unixReviewTime": 1318896000, "overall": 4.0},
        {"reviewerID": "U2", "asin": "B02", "unixReviewTime": 1300000000, "overall": 3.0},
        {"reviewerID": "U1", "asin": "B03", "unixReviewTime": 1200000000, "overall": 2.0},
    ]
    meta = [
        "{'asin': 'B01', 'title': 'OPI Nail Lacquer', 'brand': 'OPI', 'price': 8.5, "
        "'related': {'also_bought': ['B02']}, 'salesRank': {'Beauty': 123}, "
        "'categories': [['Beauty', 'Makeup', 'Nails', 'Nail Polish'], ['Beauty', 'Gift Sets']], "
        "'description': \"It's a \\\"lacquer\\\"\"}",
        "{'asin': 'B02', 'title': 'Rose Cream', 'categories': [['Beauty', 'Skin Care', 'Face']]}",
        "{'asin': 'B03', 'categories': [['Beauty']], 'imUrl': 'http://x/y.jpg'}",
    ]
    r = write_gz_lines(folder / "reviews_Beauty_5.json.gz", [json.dumps(x) for x in reviews])
    m = write_gz_lines(folder / "meta_Beauty.json.gz", meta)
    return r, m


def amazon2023_files(folder: Path, category: str = "All_Beauty") -> tuple[Path, Path]:
    reviews = [
        {"rating": 5.0, "title": "Great", "text": "Love it", "images": [], "asin": "C1A", "parent_asin": "P1",
         "user_id": "AG1", "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": True},
        {"rating": 4.0, "title": "Ok", "text": "", "images": [], "asin": "C2A", "parent_asin": "P2",
         "user_id": "AG1", "timestamp": 1588687728100, "helpful_vote": 1, "verified_purchase": False},
        {"rating": 1.0, "title": "Bad", "text": "", "images": [], "asin": "C1B", "parent_asin": "P1",
         "user_id": "AG2", "timestamp": 1600000000000, "helpful_vote": 0, "verified_purchase": True},
    ]
    meta = [
        {"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner", "average_rating": 4.8,
         "rating_number": 10, "features": ["Softens leather"], "description": ["Restores", "shine"], "price": None,
         "images": [], "videos": [], "store": "Howard Products", "categories": ["Beauty", "Care", "Leather"],
         "details": {"Item Weight": "1 lb"}, "parent_asin": "P1", "bought_together": None},
        {"main_category": "All Beauty", "title": "Yes to Tomatoes Mask", "average_rating": 4.5, "rating_number": 3,
         "features": [], "description": [], "price": "12.99", "images": [], "videos": [], "store": None,
         "categories": [], "details": {}, "parent_asin": "P2", "bought_together": None},
    ]
    r = write_lines(folder / f"{category}.jsonl", [json.dumps(x) for x in reviews])
    m = write_lines(folder / f"meta_{category}.jsonl", [json.dumps(x) for x in meta])
    return r, m


def yelp_files(folder: Path) -> tuple[Path, Path]:
    reviews = [
        {"review_id": "r1", "user_id": "yu1", "business_id": "b1", "stars": 4.0, "useful": 0, "funny": 0, "cool": 0,
         "text": "Good", "date": "2019-03-09 00:44:42"},
        {"review_id": "r2", "user_id": "yu1", "business_id": "b2", "stars": 2.0, "useful": 0, "funny": 0, "cool": 0,
         "text": "Meh", "date": "2019-01-02 10:00:00"},
        {"review_id": "r3", "user_id": "yu2", "business_id": "b1", "stars": 5.0, "useful": 1, "funny": 0, "cool": 0,
         "text": "Old", "date": "2016-05-01 12:00:00"},
    ]
    business = [
        {"business_id": "b1", "name": "The Great Greek", "address": "1 St", "city": "Las Vegas", "state": "NV",
         "postal_code": "89101", "latitude": 36.1, "longitude": -115.1, "stars": 4.5, "review_count": 10,
         "is_open": 1, "attributes": {"WiFi": "u'free'"}, "categories": "Greek, Mediterranean, Restaurants",
         "hours": {"Monday": "0:0-0:0"}},
        {"business_id": "b2", "name": "Sal's Pizza", "city": "Phoenix", "state": "AZ", "stars": 3.0,
         "review_count": 5, "categories": None},
    ]
    r = write_lines(folder / "yelp_academic_dataset_review.json", [json.dumps(x) for x in reviews])
    b = write_lines(folder / "yelp_academic_dataset_business.json", [json.dumps(x) for x in business])
    return r, b
