"""``import hf_genrec`` registers every hf_genrec class with the transformers Auto classes, lazily: the import
itself loads neither torch nor transformers, and the registration happens on the Auto classes' first lookup
whatever the order of imports (each case runs in a fresh process)."""

import subprocess
import sys

import pytest
from helpers.tiny import REPO_ROOT

TIGER = REPO_ROOT / "tests" / "assets" / "legacy_models" / "tiger"

CASES = {
    "model and tokenizer": f"import hf_genrec\nfrom transformers import AutoModel, AutoTokenizer\n"
                           f"print(type(AutoModel.from_pretrained(r'{TIGER}')).__name__, "
                           f"type(AutoTokenizer.from_pretrained(r'{TIGER}')).__name__)",
    "transformers first": f"from transformers import AutoModel\nimport hf_genrec\n"
                          f"print(type(AutoModel.from_pretrained(r'{TIGER}')).__name__, 'SIDTokenizer')",
    "another model imported in between": "import hf_genrec\nfrom transformers import T5Model, AutoConfig\n"
                                         f"AutoConfig.from_pretrained(r'{TIGER}')\n"
                                         f"from transformers import AutoModel\nprint(type(AutoModel.from_pretrained("
                                         f"r'{TIGER}')).__name__, 'SIDTokenizer')",
    "hf_genrec.models imported directly": f"import hf_genrec.models\nfrom transformers import AutoModel, AutoTokenizer\n"
                                          f"print(type(AutoModel.from_pretrained(r'{TIGER}')).__name__, "
                                          f"type(AutoTokenizer.from_pretrained(r'{TIGER}')).__name__)",
}


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_import_hf_genrec_loads_neither_torch_nor_transformers():
    result = run("import sys, hf_genrec\nprint(sorted(m for m in ('torch', 'transformers', 'datasets', 'pandas') "
                 "if m in sys.modules))")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("case", sorted(CASES))
def test_auto_classes_resolve_hf_genrec_folders_in_any_import_order(case):
    result = run(CASES[case])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["TigerForGenerativeRecommendation", "SIDTokenizer"]


def test_explicit_registration_is_idempotent():
    from transformers import AutoConfig

    from hf_genrec import register_auto_classes

    register_auto_classes()
    register_auto_classes()
    assert type(AutoConfig.for_model("comeir")).__name__ == "ComeIRConfig"
