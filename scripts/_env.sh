# Shared by scripts/quickstart.sh and scripts/test.sh: create .venv if missing and install the
# package (editable, with the dev extra) whenever setup.cfg / pyproject.toml / constraints.txt change.
# torch is pinned through constraints.txt (see README: "Why a constraints file").

PYTHON="${PYTHON:-python3}"
VENV="${HF_GENREC_VENV:-.venv}"

ensure_env() {
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    echo "hf_genrec needs Python >= 3.10 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.hf_genrec-install" want
  want=$(cat setup.cfg pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing hf_genrec and its dependencies into $VENV (first run takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[dev,deepspeed]"
    echo "$want" > "$stamp"
  fi
}

# Offline by default on these machines; export HF_HUB_OFFLINE=0 to download other models.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
