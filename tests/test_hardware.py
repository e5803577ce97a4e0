"""walt.utils.hardware: CPU flags from /proc/cpuinfo, the AVX2-emulation caps, and the precision they imply."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from walt.engine import precision
from walt.utils import hardware

REPO = Path(__file__).resolve().parents[1]
ZEN4 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n"
        "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512dq avx512_bf16 avx512_vnni\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx fma avx2 avx512f avx512dq avx512_bf16\n")
SKYLAKE_AVX2 = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu sse2 avx fma avx2\n"
SAPPHIRE = "model name\t: Intel Xeon Platinum 8480\nflags\t: avx2 avx512f amx_bf16 amx_tile amx_int8\n"
CAPS = ("WALT_CPU_ISA", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")  # scripts/avx2_env.sh


def _uncapped(monkeypatch):
    """The environment without the ISA caps, so that a test reads the CPU it fakes also under avx2_env.sh."""
    for key in CAPS:
        monkeypatch.delenv(key, raising=False)


def test_parse_cpuinfo_reads_model_and_isa_flags():
    assert hardware.parse_cpuinfo(ZEN4) == ("AMD EPYC 9R14", frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert hardware.parse_cpuinfo(SKYLAKE_AVX2) == ("Intel(R) Xeon(R) CPU @ 2.20GHz", frozenset({"avx2"}))
    assert hardware.parse_cpuinfo("") == ("unknown", frozenset())


@pytest.mark.parametrize("text, native", [(ZEN4, True), (SAPPHIRE, True), (SKYLAKE_AVX2, False), ("", False)])
def test_native_bf16_needs_avx512_bf16_or_amx(text, native):
    assert hardware.cpu_info(text, env={}).native_bf16 is native


@pytest.mark.parametrize("env", [
    {"ATEN_CPU_CAPABILITY": "avx2"},
    {"WALT_CPU_ISA": "avx2"},
    {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
     "WALT_CPU_ISA": "avx2"},
])
def test_avx2_emulation_reports_avx2_only(env):
    cpu = hardware.cpu_info(ZEN4, env=env)
    assert cpu.flags == {"avx2"} and not cpu.native_bf16
    assert "avx2 emulated" in cpu.describe() and "no native bf16" in cpu.describe()


def test_caps_that_keep_bf16_and_the_lowest_cap_wins():
    assert hardware.cpu_info(ZEN4, env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}).native_bf16
    assert not hardware.cpu_info(ZEN4, env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}).native_bf16
    assert hardware.cpu_info(ZEN4, env={"ONEDNN_MAX_CPU_ISA": "ALL"}).cap is None
    both = hardware.cpu_info(ZEN4, env={"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert both.flags == {"avx2"} and both.cap == ("avx2", "ONEDNN_MAX_CPU_ISA=AVX2")
    # a cap never adds flags the CPU lacks
    assert hardware.cpu_info(SKYLAKE_AVX2, env={"WALT_CPU_ISA": "amx"}).flags == {"avx2"}
    with pytest.raises(ValueError, match="WALT_CPU_ISA='avx3'"):
        hardware.cpu_info(ZEN4, env={"WALT_CPU_ISA": "avx3"})


def test_emulation_env_makes_bf16_resolve_to_fp32(monkeypatch):
    monkeypatch.setattr(hardware, "_read_cpuinfo", lambda: ZEN4)
    _uncapped(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert precision.resolve_precision("bf16", torch.device("cpu")).name == "bf16"
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert not precision.cpu_has_native_bf16()
    with pytest.warns(UserWarning, match="avx2 emulated"):
        resolved = precision.resolve_precision("bf16", torch.device("cpu"))
    assert resolved.name == "fp32" and resolved.dtype is None


def test_avx2_env_script_sets_the_four_caps():
    out = subprocess.run(["bash", "-c", f"source {REPO / 'scripts' / 'avx2_env.sh'} && env"], capture_output=True,
                         text=True, check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: env[k] for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                                "WALT_CPU_ISA")} == {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                                     "ONEDNN_MAX_CPU_ISA": "AVX2", "WALT_CPU_ISA": "avx2"}
    assert not hardware.cpu_info(ZEN4, env=env).native_bf16


def test_describe_names_cpu_flags_and_torch():
    line = hardware.describe()
    assert line.startswith("CPU ") and f"torch {torch.__version__}" in line and "threads" in line


def test_hardware_imports_nothing_heavy():
    code = "import sys, walt.utils.hardware; print(any(m in sys.modules for m in ('torch', 'numpy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("env, line", [
    ({}, "precision: bf16 (configs/demo/walt_demo.py asks for bf16)"),
    ({"WALT_CPU_ISA": "avx2"}, "precision: fp32 (configs/demo/walt_demo.py asks for bf16; no native bf16 here)"),
])
def test_hardware_tool_prints_the_cpu_class_and_the_precision_a_config_trains_in(env, line, monkeypatch, capsys):
    from tool_loader import load_tool

    monkeypatch.setattr(hardware, "_read_cpuinfo", lambda: ZEN4)
    _uncapped(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    assert load_tool("hardware").main(["configs/demo/walt_demo.py"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("hardware: CPU AMD EPYC 9R14") and ("no native bf16" in first) == bool(env)
    assert second == line


def test_hardware_tool_names_a_missing_config(capsys):
    from tool_loader import load_tool

    assert load_tool("hardware").main(["configs/demo/no_such.py"]) == 1
    assert capsys.readouterr().err.strip() == "error: config file not found: configs/demo/no_such.py"
