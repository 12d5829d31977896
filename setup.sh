#!/usr/bin/env bash
# Installs everything policysearch and its tests need on a fresh Debian machine:
# the Fashion-MNIST package (real data, offline) and the Python package with
# its test extras. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

PYTHON=${PYTHON:-python3}
# torch/torchvision first, pinned to the releases the project is tested with.
"$PYTHON" -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
