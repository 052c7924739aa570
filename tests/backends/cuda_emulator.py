"""cuda_kernels.cu on the CPU: the same source, built by g++ with CUDA's built-ins shimmed.

A `Launch` and `Device` for `cupy_kernels.kernels`, so the production wrappers drive the
production .cu with NumPy arrays. Blocks run one after another; a block's threads run on as
many Python threads (ctypes releases the GIL, so they meet at __syncthreads()). Each call is
checked against the kernel's C signature, parsed from the .cu, as strictly as CUDA needs it:
a pointer parameter takes a contiguous array of its element type, a float an np.float32, an
int an np.int32, a long long an np.int64; a Python scalar is refused, because CuPy would pass
it as a double or a 64-bit integer. An empty array goes in as a null pointer, so a kernel
that reads a slot the options do not use crashes here instead of reading a neighbour.
"""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lrctl.server.backends import cupy_kernels

SHIM = Path(__file__).with_name("cuda_shim.h")
GXX_FLAGS = ("-O1", "-std=c++20", "-ffp-contract=off", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror")
BLOCK_TIMEOUT_S = 30.0

_POINTERS = {"float*": np.float32, "double*": np.float64, "longlong*": np.int64}
_SCALARS = {"float": (np.float32, ctypes.c_float), "int": (np.int32, ctypes.c_int),
            "longlong": (np.int64, ctypes.c_longlong)}
_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_LAUNCH_LOCK = threading.Lock()  # the block registers are globals of the one loaded library


def signatures(source: str) -> dict[str, list[tuple[str, str]]]:
    """kernel name -> [(C type without const or spaces, parameter name)] for each __global__."""
    kernels = {}
    for name, params in _KERNEL.findall(source):
        parsed = []
        for param in params.split(","):
            ctype, pname = re.fullmatch(r"\s*(.*?)\s*(\w+)\s*", param).groups()
            parsed.append((re.sub(r"\bconst\b|\s", "", ctype), pname))
        kernels[name] = parsed
    return kernels


def build(out_dir: Path) -> Path:
    """Compile the packaged .cu with the shim into a shared library in `out_dir`."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise FileNotFoundError("g++")
    source = out_dir / cupy_kernels.SOURCE
    source.write_text(cupy_kernels.source())
    library = out_dir / "cuda_kernels_emulated.so"
    subprocess.run([gxx, *GXX_FLAGS, "-include", str(SHIM), "-x", "c++", str(source), "-o", str(library)],
                   check=True, capture_output=True, text=True)
    return library


class HostDevice:
    """NumPy arrays standing in for device memory; moves are copies, as real transfers are,
    so the data plane's GPU paths (a separate host buffer for incoming gradients, copies
    back for replies and snapshots) run here too."""

    array_type = np.ndarray

    def to_device(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, copy=True)

    def zeros(self, n: int, dtype: type) -> np.ndarray:
        return np.zeros(n, dtype)

    def to_host(self, a: np.ndarray) -> np.ndarray:
        return np.array(a, copy=True)

    def host_buffer(self, a: np.ndarray) -> np.ndarray:
        return np.empty_like(a)

    def copy_in(self, a: np.ndarray, host: np.ndarray) -> None:
        assert host is not a and host.shape == a.shape
        a[...] = host


class EmulatedLaunch:
    """Runs the g++ build of the kernels block by block, `threads` Python threads per block.

    `ftz` puts the emulated threads in flush-to-zero / denormals-are-zero mode, as CuPy's
    forced -ftz=true does on the GPU. `launches` records (kernel, grid, block) of each call.
    """

    name = "g++ emulator"

    def __init__(self, library: Path, *, threads: int, ftz: bool = True) -> None:
        self.device = HostDevice()
        self.launches: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
        self._threads, self._ftz = threads, ftz
        self._lib = ctypes.CDLL(str(library))
        self._lib.lrctl_emu_set_block.argtypes = [ctypes.c_uint] * 3
        self._lib.lrctl_emu_set_thread.argtypes = [ctypes.c_uint, ctypes.c_int]
        self._signatures = signatures(cupy_kernels.source())
        self._kernels = {}
        for name, params in self._signatures.items():
            fn = getattr(self._lib, name)
            fn.argtypes = [ctypes.c_void_p if ctype in _POINTERS else _SCALARS[ctype][1] for ctype, _ in params]
            fn.restype = None
            self._kernels[name] = fn
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cuda-emulator")

    def _marshal(self, kernel: str, args: tuple[Any, ...]) -> list[Any]:
        params = self._signatures[kernel]
        if len(args) != len(params):
            raise TypeError(f"{kernel} takes {len(params)} arguments, got {len(args)}")
        out = []
        for (ctype, pname), arg in zip(params, args):
            if ctype in _POINTERS:
                dtype = _POINTERS[ctype]
                if not (isinstance(arg, np.ndarray) and arg.dtype == dtype and arg.flags.c_contiguous):
                    raise TypeError(f"{kernel}({pname}): {ctype} needs a contiguous {np.dtype(dtype)} array, "
                                    f"got {type(arg).__name__} {getattr(arg, 'dtype', '')}")
                out.append(arg.ctypes.data if arg.size else None)
            else:
                scalar_type, _ = _SCALARS[ctype]
                if type(arg) is not scalar_type:
                    raise TypeError(f"{kernel}({pname}): {ctype} needs np.{scalar_type.__name__}, "
                                    f"got {type(arg).__name__}")
                out.append(arg.item())
        return out

    def _run_thread(self, fn, thread: int, args: list[Any]) -> None:
        self._lib.lrctl_emu_set_thread(thread, int(self._ftz))
        fn(*args)

    def __call__(self, kernel: str, grid: tuple[int], block: tuple[int], args: tuple[Any, ...]) -> None:
        if len(grid) != 1 or grid[0] < 1:
            raise ValueError(f"grid must be (blocks >= 1,): CuPy would launch max(1, blocks), got {grid}")
        if tuple(block) != (self._threads,):
            raise ValueError(f"block must be ({self._threads},), got {block}")
        fn, cargs = self._kernels[kernel], self._marshal(kernel, args)
        self.launches.append((kernel, tuple(grid), tuple(block)))
        with _LAUNCH_LOCK:
            for b in range(grid[0]):
                self._lib.lrctl_emu_set_block(b, self._threads, grid[0])
                threads = [self._pool.submit(self._run_thread, fn, t, cargs) for t in range(self._threads)]
                for t in threads:
                    t.result(timeout=BLOCK_TIMEOUT_S)
