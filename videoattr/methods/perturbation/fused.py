"""Fused kernels: a function run through torch.compile, with the plain function as the fallback."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch._dynamo import exc

# TritonUnavailableError is missing from some torch releases.
COMPILE_ERRORS = (exc.TorchDynamoException, getattr(exc, "TritonUnavailableError", exc.TorchDynamoException))


class Fused:
    """``fn`` compiled on first use (torch.compile, dynamic shapes: one kernel for every size; a C++
    loop on CPU, Triton on GPU), or ``eager`` (default ``fn``) where compile=False or where compiling
    failed once in this process, which is warned about once. Both give the same values."""

    broken: ClassVar[str | None] = None

    def __init__(self, fn: Callable, eager: Callable | None = None):
        self.fn, self.eager = fn, eager or fn
        self.compiled: Callable | None = None

    def __call__(self, *args: Any, compile: bool = True) -> Any:
        if compile and Fused.broken is None:
            self.compiled = self.compiled or torch.compile(self.fn, dynamic=True)
            try:
                return self.compiled(*args)
            except COMPILE_ERRORS as error:
                Fused.broken = str(error).splitlines()[0]
                warnings.warn(
                    f"torch.compile could not build the fused perturbation kernels ({Fused.broken}); they run as "
                    "plain PyTorch instead (same values, slower). Set the method option compile=false to skip the attempt.",
                    stacklevel=2,
                )
        return self.eager(*args)
