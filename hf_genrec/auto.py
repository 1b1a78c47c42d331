"""Registration with the transformers Auto classes, arranged by ``import hf_genrec``.

After ``import hf_genrec``, ``AutoConfig`` / ``AutoModel`` resolve every hf_genrec ``model_type`` and
``AutoTokenizer`` returns a :class:`~hf_genrec.tokenization.SIDTokenizer` for their folders.

Registering needs the config and model classes, which import torch and transformers' modeling stack (seconds).
So that ``import hf_genrec`` and the command line stay light, the registration is lazy:

* if transformers' Auto modules are already imported, :func:`register_auto_classes` runs at once;
* otherwise a small import hook waits for them. When ``configuration_auto``, ``modeling_auto`` or
  ``tokenization_auto`` finishes loading, the hook hands the Auto mapping a registry that performs the
  registration on its first lookup (``AutoModel.from_pretrained`` and friends) made while no hf_genrec or
  transformers module is half-imported, so the registration never meets a circular import.

``register_auto_classes()`` may also be called directly; it is idempotent. The same import hook runs other
hf_genrec registrations that need a heavy transformers module (:func:`after_import`; the ``recommendation``
pipeline waits for ``transformers.pipelines``).
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import warnings
from typing import Callable, Dict, List

_REGISTERED = False
_REGISTERING = False  # set while this process registers (the registration reads the mappings itself)
_LOCK = threading.RLock()

#: transformers' Auto modules and the mapping in each whose lookups must see hf_genrec's classes
_AUTO_MAPPINGS = {
    "transformers.models.auto.configuration_auto": "CONFIG_MAPPING",
    "transformers.models.auto.modeling_auto": "MODEL_MAPPING",
    "transformers.models.auto.tokenization_auto": "TOKENIZER_MAPPING",
}
#: other modules whose loading runs hf_genrec hooks (:func:`after_import`): name -> hooks, each run once
_AFTER_IMPORT: Dict[str, List[Callable]] = {}


def register_auto_classes() -> None:
    """Register every hf_genrec config, model and the SID tokenizer with the Auto classes (once)."""
    global _REGISTERED, _REGISTERING
    if _REGISTERED:
        return
    with _LOCK:  # another thread waits here until the registration is complete
        if _REGISTERED or _REGISTERING:  # done, or this thread is inside the registration
            return
        _REGISTERING = True
        try:
            from transformers import AutoConfig, AutoModel, AutoTokenizer

            from .configuration_utils import GenRecConfig
            from .models import MODEL_TYPES
            from .tokenization import SIDTokenizer

            AutoConfig.register(GenRecConfig.model_type, GenRecConfig, exist_ok=True)
            AutoTokenizer.register(GenRecConfig, tokenizer_class=SIDTokenizer, exist_ok=True)
            for config_class, model_class in MODEL_TYPES.values():
                AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
                AutoModel.register(config_class, model_class, exist_ok=True)
                AutoTokenizer.register(config_class, tokenizer_class=SIDTokenizer, exist_ok=True)
            _REGISTERED = True
        finally:
            _REGISTERING = False


def _import_in_progress() -> bool:
    """Whether an hf_genrec or transformers module is being imported right now (its code is still running).

    transformers reads its Auto mappings while it imports some of its own modules (docstrings are built at class
    definition), and hf_genrec's modules import transformers. Registering at such a moment would import a
    half-initialised module, so the registration waits for the next lookup."""
    for name, module in list(sys.modules.items()):
        if name.split(".", 1)[0] in ("hf_genrec", "transformers") and \
                getattr(getattr(module, "__spec__", None), "_initializing", False):
            return True
    return False


class _RegisterOnFirstUse(dict):
    """The ``_extra_content`` dict of a transformers Auto mapping that registers hf_genrec before it is first read
    (unless an import is in progress, see :func:`_import_in_progress`). Writes pass through unchanged."""

    def _ready(self) -> None:
        if not _REGISTERED and not _REGISTERING and not _import_in_progress():
            register_auto_classes()


def _registering_first(name: str):
    method = getattr(dict, name)

    def read(self, *args):
        self._ready()
        return method(self, *args)

    read.__name__ = name
    return read


for _name in ("__contains__", "__getitem__", "__iter__", "__len__", "get", "keys", "values", "items"):
    setattr(_RegisterOnFirstUse, _name, _registering_first(_name))


def _arm(module) -> None:
    """Give the module's Auto mapping a registry that registers hf_genrec on first use."""
    mapping = getattr(module, _AUTO_MAPPINGS[module.__name__], None)
    extra = getattr(mapping, "_extra_content", None)
    if type(extra) is dict:
        mapping._extra_content = _RegisterOnFirstUse(extra)
    elif not isinstance(extra, _RegisterOnFirstUse):  # a transformers without this internal: register eagerly
        register_auto_classes()


class _AutoModuleWatcher(importlib.abc.MetaPathFinder):
    """Wraps the loaders of transformers' Auto modules so that :func:`_arm` runs right after each one loads (and
    those of the modules that :func:`after_import` waits for, to run its hooks)."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _AUTO_MAPPINGS and fullname not in _AFTER_IMPORT:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            if fullname in _AUTO_MAPPINGS:
                _arm(module)
            for hook in _AFTER_IMPORT.pop(fullname, []):
                _run_hook(hook, module)

        loader.exec_module = exec_module
        return spec


def _watch_imports() -> None:
    if not any(isinstance(finder, _AutoModuleWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AutoModuleWatcher())


def _run_hook(hook: Callable, module) -> None:
    """A failing hook must not break the import of the transformers module it waited for: it warns instead."""
    try:
        hook(module)
    except Exception as error:  # noqa: BLE001 - reported, not swallowed
        warnings.warn(f"hf_genrec: {getattr(hook, '__qualname__', hook)} failed after importing {module.__name__}: "
                      f"{type(error).__name__}: {error}", RuntimeWarning, stacklevel=2)


def after_import(name: str, hook: Callable) -> None:
    """Run ``hook(module)`` once the module ``name`` is imported: now if it already is, else right after it loads."""
    with _LOCK:
        if name in sys.modules:
            _run_hook(hook, sys.modules[name])
            return
        _AFTER_IMPORT.setdefault(name, []).append(hook)
        _watch_imports()


def install_lazy_registration() -> None:
    """Arrange the registration for ``import hf_genrec`` (see the module docstring)."""
    with _LOCK:
        loaded = [sys.modules[name] for name in _AUTO_MAPPINGS if name in sys.modules]
        if loaded:
            register_auto_classes()
            return
        _watch_imports()
