#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and print its path on the last line.
# The venv lives outside the clone, in $WALT_CACHE (default ~/.cache/walt), keyed by the hash of the lock file,
# so a clean clone with an unchanged lock file reuses it instead of reinstalling ~5 GB of PyTorch.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${WALT_CACHE:-$HOME/.cache/walt}"
key="$(cat "$repo/requirements/lock.txt" "$repo/scripts/setup_env.sh" | sha256sum | cut -c1-16)"
venv="$cache/venv-$key"
python="${PYTHON:-python3}"

if [ ! -f "$venv/.complete" ]; then
    echo "[setup] creating $venv (first run installs PyTorch and friends; later runs reuse it)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >&2
    # torch first, pinned: an unpinned torch would pull a multi-GB build from the registry.
    "$venv/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1 >&2
    "$venv/bin/python" -m pip install -q -r "$repo/requirements/lock.txt" >&2
    touch "$venv/.complete"
fi
# The package itself is installed editable from whichever clone runs this (cheap; no dependencies).
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$repo" >&2
echo "$venv"
