import numpy as np
import pytest

from hf_genrec.evaluation import TransitionBaseline
from hf_genrec.evaluation.breakdown import segment_table, user_segments


def _rows():
    histories = [[0], [0, 1, 2], [3, 1], [2] * 30]
    targets = [1, 2, 1, 2]
    return histories, targets


def test_segments_follow_their_definitions():
    histories, targets = _rows()
    transition = TransitionBaseline(5).fit([[0], [1]], [1, 2])  # 0 -> 1 and 1 -> 2 seen in training
    segments = user_segments(histories, targets, [3, 5, 1, 0, 0], transition.next_counts,
                             [[10], [1, 2, 3], [5, 7], [1] * 30], [10, 4, 8, 2])
    assert segments["all"].all()
    assert segments["history 1-2"].tolist() == [True, False, True, False]
    assert segments["history 3-5"].tolist() == [False, True, False, False]
    assert segments["history >= 30"].tolist() == [False, False, False, True]
    # 0 -> 1 known; 2 -> 2 never followed; 1 -> 1 never followed; 2 -> 2 never followed
    assert segments["transition-known target"].tolist() == [True, False, False, False]
    assert (segments["transition-unknown target"] == ~segments["transition-known target"]).all()
    assert segments["target repeats a history item"].tolist() == [False, True, True, True]
    assert segments["same time as last item"].tolist() == [True, False, False, False]
    # item 1 is the most trained (5), item 0 next (3), then 2 (1): item 1 popular, item 2 medium with 5 items
    assert segments["target popular"].tolist() == [True, False, True, False]


def test_segment_table_is_the_mean_over_each_segment():
    targets = [1, 2, 3, 4]
    ranked = {"a": np.array([[1, 9], [9, 2], [9, 9], [4, 9]]), "b": np.zeros((4, 2), dtype=np.int64)}
    segments = {"all": np.ones(4, bool), "first two": np.array([True, True, False, False])}
    table = segment_table(ranked, targets, segments, k=2)
    assert table["all"]["a recall@2"] == pytest.approx(0.75)
    assert table["first two"]["a recall@2"] == pytest.approx(1.0)
    assert table["first two"]["a ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 2)
    assert table["all"]["b recall@2"] == 0.0
    assert table["first two"]["users"] == 2 and table["first two"]["share"] == 0.5
    with pytest.raises(ValueError, match="segment 'bad'"):
        segment_table(ranked, targets, {"bad": np.ones(3, bool)}, k=2)
