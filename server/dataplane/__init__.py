"""The data plane: jobs' parameters and optimizer state on the server, stepped exactly once.

Arrows: the service calls DataPlane; DataPlane calls jobs (for the LR of a step and the
job's optimizer spec), optim (the math), the snapshot store and, through ownership.py, the
store's owner records (which replica holds a job). Nothing here imports grpc
or protobuf: chunks arrive and leave as domain values.

Where a job would be sharded over several servers (a shard holding a subset of its
tensors), stepping.Stepping._apply is the seam: each shard reduces and applies its own
tensors, and the LR (already the control plane's), the skip decision and the global clip
scale become values agreed for the step before any shard writes, instead of computed from
the shard's own gradient in optim.update_tensors.
"""
from lrctl.protocol.chunks import Chunk
from lrctl.server.dataplane.collect import StepOutcome, StepResult
from lrctl.server.dataplane.limits import DataPlaneLimits
from lrctl.server.dataplane.registry import DataPlane, ImportInput, ParametersInfo, UploadInput
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.snapshots import SnapshotStore
from lrctl.server.dataplane.stepping import Contributed, StepInput

__all__ = ["Chunk", "Contributed", "DataPlane", "DataPlaneLimits", "ImportInput", "ParametersInfo", "ReplyOptions",
           "SnapshotStore", "StepInput", "StepOutcome", "StepResult", "UploadInput"]
