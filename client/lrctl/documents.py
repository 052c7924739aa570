"""Reading configuration files (JSON, or YAML by extension) with one clear error per problem.

A missing file or a syntax error is a DocumentError naming the file and the place, instead of
the OSError or decoder traceback a caller would otherwise show; what the document says is
checked later, against its message (lrctl.config_message).
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import yaml

YAML_SUFFIXES = (".yaml", ".yml")


class DocumentError(ValueError):
    """A file that cannot be read or parsed; the message names the file and the problem."""


def read_document(path: str | os.PathLike[str], what: str) -> Any:
    """The parsed contents of the `what` file (e.g. "policy") at `path`."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DocumentError(f"cannot read the {what} file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"the {what} file {path} is not text (UTF-8)") from None
    if path.suffix.lower() in YAML_SUFFIXES:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise DocumentError(f"the {what} file {path} is not valid YAML{where}: {problem}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DocumentError(f"the {what} file {path} is not valid JSON at line {error.lineno} column "
                            f"{error.colno}: {error.msg}") from None
