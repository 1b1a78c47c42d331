"""hf_genrec's messages follow transformers' verbosity (or HF_GENREC_VERBOSITY / set_verbosity), and its progress
bars follow the usual Hugging Face switches."""

import logging

import pytest
from transformers.utils import logging as transformers_logging

from hf_genrec.utils import logging as genrec_logging
from hf_genrec.utils.progress import progress, progress_disabled


@pytest.fixture
def verbosity(monkeypatch):
    monkeypatch.delenv("HF_GENREC_VERBOSITY", raising=False)
    before = transformers_logging.get_verbosity()
    genrec_logging._explicit = None
    yield
    transformers_logging.set_verbosity(before)
    genrec_logging._explicit = None


def test_messages_follow_transformers_verbosity_then_the_environment_then_set_verbosity(verbosity, capfd,
                                                                                         monkeypatch):
    logger = genrec_logging.get_logger("hf_genrec.test")
    transformers_logging.set_verbosity_warning()
    logger.info("hidden at warning")
    logger.warning("shown at warning")
    transformers_logging.set_verbosity_info()
    logger.info("shown at info")
    monkeypatch.setenv("HF_GENREC_VERBOSITY", "error")
    logger.warning("hidden by the environment")
    genrec_logging.set_verbosity(logging.DEBUG)
    logger.debug("shown by set_verbosity")
    err = capfd.readouterr().err
    assert "shown at warning" in err and "shown at info" in err and "shown by set_verbosity" in err
    assert "hidden" not in err
    monkeypatch.setenv("HF_GENREC_VERBOSITY", "loud")
    genrec_logging._explicit = None
    with pytest.raises(ValueError, match="HF_GENREC_VERBOSITY"):
        genrec_logging.get_verbosity()


def test_progress_bars_follow_the_hugging_face_switches(monkeypatch):
    monkeypatch.delenv("HF_GENREC_DISABLE_PROGRESS", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    assert not progress_disabled()
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    assert progress_disabled() and progress(range(3)).disable
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    transformers_logging.disable_progress_bar()
    try:
        assert progress_disabled()
    finally:
        transformers_logging.enable_progress_bar()
    assert not progress_disabled()
