"""Array backends for the data plane: where optimizer buffers live and the kernels over them."""
from lrctl.server.backends.kernels import Kernels
from lrctl.server.backends.selection import Backend, cpu_backend, select_backend

__all__ = ["Backend", "Kernels", "cpu_backend", "select_backend"]
