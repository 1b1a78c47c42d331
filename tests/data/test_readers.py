"""Every reader on small fixture files written in the exact public format, plus the bad-input errors."""

import json

import pandas as pd
import pytest
from helpers.writers import amazon2014_files, amazon2023_files, write_lines, write_two_file, yelp_files

from hf_genrec.data import (DataFormatError, InteractionColumns, ItemColumns, detect_format, load_amazon2023_from_hub,
                            read_amazon2014, read_amazon2023, read_dataset, read_table_pair, read_two_file, read_yelp)

NO_TIME = InteractionColumns(timestamp=None)


# ------------------------------------------------------------------------------------------ two-file
def test_two_file_beauty_layout(tmp_path):
    folder = write_two_file(
        tmp_path / "beauty", {"A1": ["B1", "B2", "B1"], "A2": ["B2", "B3"]},
        items={"B1": {"title": "OPI Nail Lacquer", "attributes_brand_and_categories": ["OPI", "Makeup", "Nails"],
                      "brand_inferred": "OPI", "category_tokens": ["Makeup", "Nails"], "letter_sid": ["<a_1>", "<b_2>"]},
               "B2": {"title": "Cream", "brand_inferred": "Unknown", "category_tokens": ["Skin Care"], "letter_sid": []},
               "B3": {"title": "", "brand_inferred": None, "category_tokens": [], "letter_sid": []}},
        timestamps={"A1": [10, 10, 5], "A2": [3, 4]})
    log = read_two_file(folder)
    assert list(log.interactions.columns) == ["user_id", "item_id", "timestamp", "source_line"]
    assert log.interactions["item_id"].tolist() == ["B1", "B2", "B1", "B2", "B3"]
    assert log.interactions["timestamp"].tolist() == [10, 10, 5, 3, 4]
    assert log.interactions["source_line"].tolist() == [2, 3, 4, 5, 6]
    items = log.items.set_index("item_id")
    assert items.loc["B1", "title"] == "OPI Nail Lacquer"
    assert items.loc["B1", "category_path"] == ["Makeup", "Nails"]
    assert items.loc["B1", "brand"] == "OPI"
    assert items.loc["B2", "brand"] == ""  # "Unknown" is a placeholder, not a brand
    assert items.loc["B1", "letter_sid"] == ["<a_1>", "<b_2>"]
    assert items.loc["B1", "source_item_idx"] == 1
    assert not log.redistribution_restricted


def test_a_yelp_mention_in_a_provenance_note_does_not_restrict_amazon_data(tmp_path):
    """../shared's Sports SOURCE.txt mentions Yelp in a note about another repository; only the title line or an
    explicit statement restricts redistribution."""
    note = ('Amazon 2014 "Sports and Outdoors" 5-core\n=====\n'
            "  (IDGenRec & GRAM item_plain_text.txt); TransRec ships Beauty/Toys/Yelp only.\n")
    folder = write_two_file(tmp_path / "sports", {"u": ["s1", "s2", "s3"]}, source_text=note)
    assert not read_dataset(folder).redistribution_restricted
    stated = write_two_file(tmp_path / "other", {"u": ["s1", "s2", "s3"]},
                            source_text="Some shop\nThe licence restricts redistribution.\n")
    assert read_dataset(stated).redistribution_restricted


def test_two_file_yelp_layout_is_restricted_and_toys_layout_has_no_time(tmp_path):
    yelp = write_two_file(tmp_path / "yelp", {"u": ["b1", "b2", "b3"]}, timestamps={"u": [1, 2, 3]},
                          items={"b1": {"name": "Diner", "categories": ["Diners", "Greek"]}}, item_column="business_id",
                          source_text="Yelp (the S3-Rec / P5 version)\nredistribution restricted\n")
    log = read_dataset(yelp)
    assert log.redistribution_restricted and "restricted" in log.license_note
    assert log.items.set_index("item_id").loc["b1", "title"] == "Diner"
    assert log.items.set_index("item_id").loc["b1", "categories"] == ["Diners", "Greek"]
    toys = write_two_file(tmp_path / "toys", {"u": ["t1", "t2", "t3"]})
    log = read_dataset(toys)
    assert "timestamp" not in log.interactions.columns
    assert len(log.items) == 0


# ------------------------------------------------------------------------------------------ generic tables
def test_column_mapped_csv_and_parquet(tmp_path):
    write_lines(tmp_path / "events.csv", ["customer,sku,ts,extra", 'c1,s1,1600000000123,"a, quoted"',
                                           "c1,s2,1600000001000,x", "c2,s1,1500000000000,y"])
    items = pd.DataFrame({"sku": ["s1", "s2"], "name": ["Red Mug", "Blue Cup"], "tags": [["kitchen", "mugs"], []],
                          "maker": ["Acme", None], "price": [1.5, 2.0]})
    items.to_parquet(tmp_path / "products.parquet")
    log = read_table_pair(tmp_path / "events.csv", tmp_path / "products.parquet",
                          InteractionColumns(user="customer", item="sku", timestamp="ts", timestamp_unit="ms"),
                          ItemColumns(item="sku", title="name", brand="maker", categories="tags", category_path=None))
    assert log.interactions["timestamp"].tolist() == [1600000000, 1600000001, 1500000000]
    table = log.items.set_index("item_id")
    assert table.loc["s1", "categories"] == ["kitchen", "mugs"]
    assert table.loc["s2", "brand"] == ""
    assert table.loc["s2", "price"] == 2.0


def test_jsonl_interactions_with_iso_dates_and_separator_lists(tmp_path):
    write_lines(tmp_path / "log.jsonl", [json.dumps({"u": "a", "i": 1, "when": "2020-01-02T03:04:05Z"}),
                                         "", json.dumps({"u": "a", "i": 2, "when": "2020-01-03"})])
    write_lines(tmp_path / "items.tsv", ["i\ttitle\tcategories", "1\tOne\tx|y", "2\tTwo\t"])
    log = read_table_pair(tmp_path / "log.jsonl", tmp_path / "items.tsv",
                          InteractionColumns(user="u", item="i", timestamp="when", timestamp_unit="iso"),
                          ItemColumns(item="i"))
    assert log.interactions["timestamp"].tolist() == [1577934245, 1578009600]
    assert log.interactions["source_line"].tolist() == [1, 3]
    assert log.items.set_index("item_id").loc["1", "categories"] == ["x", "y"]
    assert log.items.set_index("item_id").loc["2", "categories"] == []


# ------------------------------------------------------------------------------------------ Amazon
def test_amazon2014_reviews_and_python_literal_meta(tmp_path):
    reviews, meta = amazon2014_files(tmp_path)
    assert detect_format(tmp_path) == "amazon2014"
    log = read_amazon2014(reviews, meta)
    assert log.name == "amazon2014-Beauty"
    assert log.interactions[["user_id", "item_id", "timestamp"]].values.tolist() == [
        ["U1", "B01", 1318896000], ["U1", "B02", 1318896000], ["U2", "B02", 1300000000], ["U1", "B03", 1200000000]]
    items = log.items.set_index("item_id")
    assert items.loc["B01", "category_path"] == ["Makeup", "Nails", "Nail Polish"]
    assert items.loc["B01", "categories"] == ["Beauty", "Makeup", "Nails", "Nail Polish", "Gift Sets"]
    assert items.loc["B01", "description"] == 'It\'s a "lacquer"'
    assert items.loc["B03", "category_path"] == [] and items.loc["B03", "title"] == ""
    assert read_dataset(tmp_path).interactions.shape[0] == 4


def test_amazon2014_meta_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    reviews, _ = amazon2014_files(tmp_path)
    meta = write_lines(tmp_path / "meta_Evil.json", [f"__import__('pathlib').Path({str(marker)!r}).touch()"])
    with pytest.raises(DataFormatError) as err:
        read_amazon2014(reviews, meta)
    assert err.value.line == 1 and "malformed" in str(err.value)
    assert not marker.exists()


def test_amazon2023_files(tmp_path):
    reviews, meta = amazon2023_files(tmp_path)
    assert detect_format(reviews) == "amazon2023" and detect_format(tmp_path) == "amazon2023"
    log = read_amazon2023(reviews, meta)
    assert log.interactions["item_id"].tolist() == ["P1", "P2", "P1"]
    assert log.interactions["timestamp"].tolist() == [1588687728, 1588687728, 1600000000]
    items = log.items.set_index("item_id")
    assert items.loc["P1", "brand"] == "Howard Products"
    assert items.loc["P1", "category_path"] == ["Beauty", "Care", "Leather"]
    assert items.loc["P1", "description"] == "Restores shine Softens leather"
    assert items.loc["P2", "main_category"] == "All Beauty"
    assert len(read_dataset(tmp_path).interactions) == 3


def test_amazon2023_hub_loader_reads_from_hf_cache(tmp_path):
    """The real ``hf_hub_download`` path, offline, against files placed in the standard cache layout."""
    repo = tmp_path / "cache" / "datasets--McAuley-Lab--Amazon-Reviews-2023"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    amazon2023_files(snapshot / "raw" / "review_categories")
    (snapshot / "raw" / "meta_categories").mkdir(parents=True)
    (snapshot / "raw" / "review_categories" / "meta_All_Beauty.jsonl").rename(
        snapshot / "raw" / "meta_categories" / "meta_All_Beauty.jsonl")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    log = load_amazon2023_from_hub("raw_review_All_Beauty", cache_dir=str(tmp_path / "cache"))
    assert log.name == "amazon2023-All_Beauty" and len(log.interactions) == 3 and len(log.items) == 2
    assert log.source["hub_repo"] == "McAuley-Lab/Amazon-Reviews-2023"
    with pytest.raises(Exception, match="(?i)offline|cannot find|not found|connection"):
        load_amazon2023_from_hub("Video_Games", cache_dir=str(tmp_path / "cache"))


# ------------------------------------------------------------------------------------------ Yelp
def test_yelp_reviews_and_businesses(tmp_path):
    yelp_files(tmp_path)
    assert detect_format(tmp_path) == "yelp"
    log = read_dataset(tmp_path)
    assert log.redistribution_restricted
    assert log.interactions["timestamp"].iloc[0] == int(pd.Timestamp("2019-03-09 00:44:42", tz="UTC").timestamp())
    items = log.items.set_index("item_id")
    assert items.loc["b1", "title"] == "The Great Greek"
    assert items.loc["b1", "categories"] == ["Greek", "Mediterranean", "Restaurants"]
    assert items.loc["b2", "categories"] == [] and items.loc["b2", "city"] == "Phoenix"
    window = read_yelp(tmp_path / "yelp_academic_dataset_review.json", date_from="2019-01-01", date_to="2019-12-31")
    assert window.interactions["user_id"].tolist() == ["yu1", "yu1"]


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("content, line, message", [
    (["user_id\titem_id\ttimestamp", "u1\ti1\t5", "u1\ti2"], 3, "expected 3 fields"),
    (["user_id\titem_id\ttimestamp", "u1\ti1\t5", "u1\ti2\t"], 3, "timestamp is missing"),
    (["user_id\titem_id\ttimestamp", "u1\ti1\tyesterday-ish"], 2, "timestamp is not a number"),
    (["user_id\titem_id\ttimestamp", "\ti1\t5"], 2, "empty value"),
])
def test_bad_tsv_lines_name_file_and_line(tmp_path, content, line, message):
    path = write_lines(tmp_path / "interactions.tsv", content)
    with pytest.raises(DataFormatError) as err:
        read_two_file(tmp_path)
    assert err.value.line == line and message in str(err.value)
    assert str(path) in str(err.value) and f"line {line}" in str(err.value)


def test_missing_column_names_the_field(tmp_path):
    write_lines(tmp_path / "x.csv", ["user,item", "a,b"])
    with pytest.raises(DataFormatError) as err:
        read_table_pair(tmp_path / "x.csv")
    assert err.value.field == "user_id" and "missing user column 'user_id'" in str(err.value)
    assert "x.csv" in str(err.value)


def test_empty_files(tmp_path):
    write_lines(tmp_path / "empty.csv", [""])
    with pytest.raises(DataFormatError, match="empty"):
        read_table_pair(tmp_path / "empty.csv")
    write_lines(tmp_path / "header.csv", ["user_id,item_id"])
    with pytest.raises(DataFormatError, match="no data rows"):
        read_table_pair(tmp_path / "header.csv")
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(DataFormatError, match="empty"):
        read_table_pair(tmp_path / "e.jsonl")


def test_malformed_json_line(tmp_path):
    write_lines(tmp_path / "a.jsonl", ['{"user_id": "u", "item_id": "i"}', '{"user_id": "u", "item_id": '])
    with pytest.raises(DataFormatError) as err:
        read_table_pair(tmp_path / "a.jsonl", interaction_columns=NO_TIME)
    assert err.value.line == 2 and "malformed JSON" in str(err.value)
    write_lines(tmp_path / "b.jsonl", ['["not", "an", "object"]'])
    with pytest.raises(DataFormatError, match="expected a JSON object"):
        read_table_pair(tmp_path / "b.jsonl", interaction_columns=NO_TIME)


def test_undecodable_bytes_name_the_line(tmp_path):
    (tmp_path / "latin.csv").write_bytes("user_id,item_id\nu1,i1\nu2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as err:
        read_table_pair(tmp_path / "latin.csv")
    assert err.value.line == 3 and "utf-8" in str(err.value)
    log = read_table_pair(tmp_path / "latin.csv", encoding="latin-1", interaction_columns=NO_TIME)
    assert log.interactions["item_id"].iloc[1] == "café"


def test_truncated_gzip_is_reported(tmp_path):
    reviews, _ = amazon2014_files(tmp_path)
    data = reviews.read_bytes()
    reviews.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="cannot read the file"):
        read_amazon2014(reviews)


def test_duplicate_item_and_parquet_row_errors(tmp_path):
    write_lines(tmp_path / "i.jsonl", ['{"item_id": "x"}', '{"item_id": "y"}', '{"item_id": "x"}'])
    write_lines(tmp_path / "e.csv", ["user_id,item_id", "u,x"])
    with pytest.raises(DataFormatError) as err:
        read_table_pair(tmp_path / "e.csv", tmp_path / "i.jsonl", NO_TIME)
    assert err.value.line == 3 and "appears twice (first at line 1)" in str(err.value)
    pd.DataFrame({"user_id": ["u", None], "item_id": ["a", "b"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataFormatError, match=r"empty value \(row 2\)"):
        read_table_pair(tmp_path / "p.parquet", interaction_columns=NO_TIME)


def test_unknown_format_and_missing_path(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(DataFormatError, match="cannot tell the dataset format"):
        read_dataset(tmp_path / "d")
    write_lines(tmp_path / "x.txt", ["a"])
    with pytest.raises(DataFormatError, match="table format"):
        read_dataset(tmp_path / "x.txt")


def test_auto_timestamps_fall_back_to_iso_and_report_garbage(tmp_path):
    write_lines(tmp_path / "a.csv", ["user_id,item_id,timestamp", "u,i,2020-01-01", "u,j,1577836800"])
    assert read_table_pair(tmp_path / "a.csv").interactions["timestamp"].tolist() == [1577836800, 1577836800]
    write_lines(tmp_path / "b.csv", ["user_id,item_id,timestamp", "u,i,2020-01-01", "u,j,soon"])
    with pytest.raises(DataFormatError, match="neither a number nor an ISO-8601") as err:
        read_table_pair(tmp_path / "b.csv")
    assert err.value.line == 3
