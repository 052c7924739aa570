"""Regenerate the committed Python code for protos/ (run after editing a .proto).

Usage: python protos/generate.py [OUT_DIR]   (default: client/, where package lrctl lives)
The staleness test calls this with a temporary OUT_DIR and compares the results.
"""
from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

PROTO_ROOT = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent
GRPC_SERVICE_PROTOS = {"controller.proto", "optimizer.proto"}


def generate(out_dir: pathlib.Path) -> None:
    """Run protoc for every lrctl/v1 proto into out_dir (messages, typing stubs, gRPC stubs)."""
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    for proto in sorted((PROTO_ROOT / "lrctl" / "v1").glob("*.proto")):
        args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
                f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if proto.name in GRPC_SERVICE_PROTOS:
            args.append(f"--grpc_python_out={out_dir}")
        args.append(str(proto.relative_to(PROTO_ROOT)))
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "client")
