"""Array backends for the data plane: where optimizer buffers live and the kernels over them."""
from lrctl.server.backends.kernels import Kernels
from lrctl.server.backends.memory import Device, host_copy
from lrctl.server.backends.selection import Backend, cpu_backend, cuda_backend, select_backend

__all__ = ["Backend", "Device", "Kernels", "cpu_backend", "cuda_backend", "host_copy", "select_backend"]
