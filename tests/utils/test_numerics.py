import pytest
import torch

from hf_genrec.utils.numerics import flush_denormals, flushing_denormals

SUBNORMAL = 1e-39  # below float32's smallest normal number (1.18e-38)


def _product_of_a_subnormal() -> float:
    return (torch.tensor([SUBNORMAL], dtype=torch.float32) * 2.0).item()


def test_flush_denormals_zeroes_subnormals_inside_the_block_and_restores_the_setting():
    assert not flushing_denormals()
    assert _product_of_a_subnormal() > 0.0
    with flush_denormals() as active:
        if not active:
            pytest.skip("this CPU cannot flush subnormal floats (torch.set_flush_denormal returned False)")
        assert _product_of_a_subnormal() == 0.0
        assert (torch.tensor([1e-30]) * 2.0).item() == pytest.approx(2e-30)  # normal numbers are untouched
    assert _product_of_a_subnormal() > 0.0


def test_an_outer_setting_survives_the_block_and_disabled_blocks_change_nothing():
    try:
        if not torch.set_flush_denormal(True):
            pytest.skip("this CPU cannot flush subnormal floats")
        with flush_denormals():
            pass
        assert flushing_denormals()  # the caller's setting is restored, not reset to PyTorch's default
    finally:
        torch.set_flush_denormal(False)
    with flush_denormals(enabled=False) as active:
        assert not active and _product_of_a_subnormal() > 0.0


def test_every_openmp_thread_flushes_inside_the_block_and_none_after():
    """x86's flush flags belong to each thread; PyTorch's kernels run on its OpenMP team, so the block sets them there
    too (``torch.set_flush_denormal`` alone reaches only the calling thread)."""
    from hf_genrec.utils.numerics import on_every_openmp_thread

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        if on_every_openmp_thread(lambda: None) is None:
            pytest.skip("PyTorch's OpenMP runtime is not reachable here (not Linux, or another parallel backend)")
        torch.set_flush_denormal(True)  # the calling thread alone: the other thread of the team keeps subnormals
        try:
            assert sorted(on_every_openmp_thread(flushing_denormals)) == [False, True]
        finally:
            torch.set_flush_denormal(False)
        with flush_denormals() as active:
            if not active:
                pytest.skip("this CPU cannot flush subnormal floats")
            assert on_every_openmp_thread(flushing_denormals) == [True, True]
        assert on_every_openmp_thread(flushing_denormals) == [False, False]
    finally:
        torch.set_num_threads(threads)
