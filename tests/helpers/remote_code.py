"""Load a model folder with ``trust_remote_code=True`` in a fresh process where hf_genrec cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

#: the start of every such script: hf_genrec cannot be imported after it
HIDE_HF_GENREC = r"""
import importlib.abc, importlib.util, json, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_genrec" or name.startswith("hf_genrec."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")
        return None

sys.meta_path.insert(0, Hide())
try:
    import hf_genrec
    raise SystemExit("hf_genrec must not be importable here")
except ModuleNotFoundError:
    pass
"""

HIDDEN_PACKAGE_SCRIPT = HIDE_HF_GENREC + r"""
from transformers import AutoModel, AutoTokenizer
folders, histories = json.loads(sys.argv[1]), json.loads(sys.argv[2])
results = []
for folder in folders:
    try:
        AutoModel.from_pretrained(folder)
        raise SystemExit(f"{folder}: loading without trust_remote_code must fail")
    except ValueError:
        pass
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    batch = tokenizer(histories, return_tensors="pt")
    out = model.generate(**batch, num_beams=5)
    results.append({"items": out.items.tolist(), "module": type(model).__module__,
                    "hf_genrec": "hf_genrec" in sys.modules})
print("RESULT " + json.dumps(results))
"""


def run_without_hf_genrec(script_text: str, workdir: Path, args: List[str], name: str = "without_hf_genrec.py") -> Any:
    """Run ``script_text`` (starting with :data:`HIDE_HF_GENREC`) with ``args`` in a fresh process; returns the JSON
    it prints after ``RESULT ``."""
    script = workdir / name
    script.write_text(script_text)
    env = dict(os.environ, HF_MODULES_CACHE=str(workdir / "modules"))
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                            text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)  # the opt-in prompt gets "no"
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.split("RESULT ", 1)[1].splitlines()[0])


def load_all_without_hf_genrec(folders: List[Path], workdir: Path, histories: List[List[int]]) -> List[Dict[str, Any]]:
    """Run the script above on each of ``folders`` in one process (one interpreter start for all of them); returns
    ``{"items", "module", "hf_genrec"}`` of each folder's beam-5 decode. Give the folders distinct names: remote code
    modules are cached under the folder's name."""
    assert len({Path(folder).name for folder in folders}) == len(folders), "folders need distinct names"
    return run_without_hf_genrec(HIDDEN_PACKAGE_SCRIPT, workdir, [json.dumps([str(f) for f in folders]),
                                                                   json.dumps(histories)],
                                 name="load_without_hf_genrec.py")


def load_without_hf_genrec(folder: Path, workdir: Path, histories: List[List[int]]) -> Dict[str, Any]:
    """:func:`load_all_without_hf_genrec` for one folder."""
    return load_all_without_hf_genrec([folder], workdir, histories)[0]
