# scripts/deps.sh: sourced by demo.sh and test.sh. Installs the Debian 12 packages trustml's build
# needs when they are missing (as root via apt-get; otherwise it says what to install), and puts
# the CUDA toolkit's nvcc on PATH when it is installed outside PATH.

TRUSTML_PACKAGES="g++ cmake ninja-build pkg-config libeigen3-dev doctest-dev libfftw3-dev libopenblas-dev libcli11-dev nlohmann-json3-dev"

trustml_install_deps() {
  local missing=""
  for pkg in $TRUSTML_PACKAGES "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "trustml: installing Debian packages:$missing" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
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

# Configures and builds into build/ (or $TRUSTML_BUILD_DIR) with both cores.
trustml_build() {
  local dir="${TRUSTML_BUILD_DIR:-build}"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null || exit 1
  cmake --build "$dir" -j 2 || exit 1
}
