#!/usr/bin/env bash
# Every GPU check in one run, for a machine with a CUDA GPU (well under 8 minutes on one GPU):
# the CUDA-marked tests (skipped without a GPU), then bench/gpu_proxy.py's table.
#     bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
status=0
timeout 240 python3 -m pytest -q -p no:cacheprovider -m cuda tests policysearch -o addopts="" || status=$?
timeout 300 python3 bench/gpu_proxy.py || status=$?
exit $status
