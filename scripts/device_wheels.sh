#!/usr/bin/env bash
# Wheels of what a GPU machine without internet may lack for the notebook's nbval check (nbval and Jupyter's
# kernel), for Python 3.12 on x86-64, into .whl/ (git-ignored). Copy .whl/ there and install them with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "nbval>=0.11" ipykernel
# a machine with PyTorch and pytest has these already: keep its own versions
for have in attrs coverage iniconfig packaging pluggy psutil pygments pytest python_dateutil typing_extensions; do
  rm -f .whl/"${have}"-*.whl
done
du -sh .whl
