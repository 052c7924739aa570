"""The data plane: jobs' parameters and optimizer state on the server, stepped exactly once.

Arrows: the service calls DataPlane; DataPlane calls jobs (for the LR of a step and the
job's optimizer spec), optim (the math) and the snapshot store. Nothing here imports grpc
or protobuf: chunks arrive and leave as domain values.
"""
from lrctl.server.dataplane.chunks import Chunk
from lrctl.server.dataplane.limits import DataPlaneLimits
from lrctl.server.dataplane.registry import (
    DataPlane, ImportInput, ParametersInfo, StepInput, StepResult, UploadInput,
)
from lrctl.server.dataplane.replies import ReplyOptions
from lrctl.server.dataplane.snapshots import SnapshotStore

__all__ = ["Chunk", "DataPlane", "DataPlaneLimits", "ImportInput", "ParametersInfo", "ReplyOptions", "SnapshotStore",
           "StepInput", "StepResult", "UploadInput"]
