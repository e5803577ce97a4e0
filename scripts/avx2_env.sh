# Source this file to make PyTorch (and walt's hardware report) behave as on an AVX2-only CPU without bf16 hardware:
#   source scripts/avx2_env.sh && python benchmarks/train_step.py
# ATen's kernels, MKL and oneDNN are capped at AVX2 (fp32 2048² matmul ≈ 150 GFLOP/s on the development CPU, bf16
# ≈ 1 GFLOP/s: emulated), and WALT_CPU_ISA tells walt/utils/hardware.py that bf16 is not native here, so
# precision="bf16" falls back to fp32 as it would on such a CPU.
export ATEN_CPU_CAPABILITY=avx2
export MKL_ENABLE_INSTRUCTIONS=AVX2
export ONEDNN_MAX_CPU_ISA=AVX2
export WALT_CPU_ISA=avx2
