#!/usr/bin/env bash
# WebGPU vs CPU per segment and exit head (crate/benches/gpu.rs) on a real GPU, in one short run.
# For an x86-64 Linux machine with an NVIDIA GPU and its driver (which ships the Vulkan ICD):
#   crate/benches/gpu-machine.sh [criterion args…]     e.g. `… tiny-mnist/` for one model
# Installs what is missing (rustup + stable cargo; the Vulkan loader on Debian/Ubuntu), prints
# the adapter wgpu picks, runs the bench with short measurement times and keeps the output in
# target/gpu-bench.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "== installing rustup and the stable toolchain"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# wgpu loads libvulkan.so.1 at run time; the NVIDIA driver provides the ICD behind it.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "== installing the Vulkan loader (libvulkan1)"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq libvulkan1
  else
    echo "no libvulkan.so.1 and no apt-get: install the Vulkan loader first" >&2
    exit 1
  fi
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
else
  echo "warning: no nvidia-smi; the bench reports whichever adapter wgpu finds" >&2
fi

mkdir -p target
out=target/gpu-bench.txt
echo "== cargo bench --features webgpu --bench gpu (short run)"
cargo bench -p exitwise --features webgpu --bench gpu -- \
  --warm-up-time 0.5 --measurement-time 1 --sample-size 10 "$@" 2>&1 | tee "$out"

echo "== adapter"
grep -m1 'adapter' "$out" || true
if grep -q 'software rasteriser' "$out"; then
  echo 'warning: wgpu picked a software adapter, not the GPU (is the NVIDIA Vulkan ICD installed? see vulkaninfo --summary; VK_ICD_FILENAMES selects one)' >&2
fi
echo "== full output: $out"
