"""DeepSpeed on CPU: how the processes all-reduce, and a stale extension build lock is an error, not a hang."""

import os
import time

import pytest

pytest.importorskip("deepspeed", reason="install the deepspeed extra: pip install -e '.[deepspeed]'")

from hf_genrec.training import deepspeed_engine  # noqa: E402


@pytest.fixture
def extensions_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    import deepspeed.ops

    monkeypatch.setitem(deepspeed.ops.__compatible_ops__, deepspeed_engine.SHM_ALLREDUCE_OP, True)
    return tmp_path


def test_default_lets_gloo_allreduce(extensions_dir):
    import deepspeed.ops

    deepspeed_engine.configure_cpu_allreduce(False)
    assert deepspeed.ops.__compatible_ops__[deepspeed_engine.SHM_ALLREDUCE_OP] is False
    from deepspeed.comm.torch import build_shm_op

    assert build_shm_op() is None  # nothing is compiled, no lock is taken


def test_stale_build_lock_is_a_clear_error(extensions_dir):
    lock = extensions_dir / deepspeed_engine.SHM_ALLREDUCE_OP / "lock"
    lock.parent.mkdir(parents=True)
    lock.touch()
    deepspeed_engine.configure_cpu_allreduce(True)  # a fresh lock: a build may be running, wait for it
    old = time.time() - deepspeed_engine.STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    with pytest.raises(RuntimeError, match="build lock left by a killed DeepSpeed build"):
        deepspeed_engine.configure_cpu_allreduce(True)
    deepspeed_engine.configure_cpu_allreduce(False)  # the default never touches the op, so never waits on the lock
