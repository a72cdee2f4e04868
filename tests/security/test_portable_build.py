"""llama.cpp is built for a portable baseline, not for whatever CPU ran `make setup`.

A native build on a CPU with AMX (Sapphire Rapids, this project's CI machines) crashed the gateway
on its first local answer (SIGSEGV in ggml_backend_amx_mul_mat), and a native build's kernels, so
its numerics, differ by CPU. The Makefile builds with GGML_NATIVE=OFF: x86-64-v3 (AVX2, FMA, F16C).
"""

from __future__ import annotations

import platform

import pytest


@pytest.mark.skipif(platform.machine() not in {"x86_64", "AMD64"}, reason="the baseline is an x86 one")
def test_llama_cpp_uses_the_portable_x86_64_v3_kernels_only() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    info = llama_cpp.llama_print_system_info().decode()
    items = (item.partition("=") for item in info.replace("CPU :", "").split("|"))
    used = {name.strip() for name, _, value in items if value.strip() == "1"}
    assert {"AVX2", "FMA", "F16C"} <= used, info
    assert not {name for name in used if name.startswith(("AVX512", "AMX", "AVX_VNNI"))}, info
