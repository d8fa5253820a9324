"""cuDNN convolutions for the cupy backend, through NVIDIA's cuDNN frontend (``pip install 'anynn[cudnn]'``, the
``nvidia-cudnn-frontend`` package; CuPy 14 no longer wraps cuDNN). Opt-in until verified on a GPU:
``ANYNN_CUDNN=1`` in the environment before anynn is imported.

With it, the cupy backend runs a convolution's forward pass (bias add fused in as the graph's epilogue) and its
weight gradient as one cuDNN graph each, through the fast-path protocol's ``conv2d_direct`` pair
(``anynn/ops/conv.py``); the input gradient stays ``W.T @ grad`` plus col2im until ``ConvNd.backward`` asks for
:func:`conv_input_grad` (the data-gradient graph is built and tested here). Wherever cuDNN cannot run a case (the
frontend or the cuDNN library missing, a dtype or layout it has no plan for, grouped convolutions) the pass
declines and the op runs im2col, and the reason is stated once as a warning.

* **Graphs.** Tensors are described to cuDNN as NCHW dims with element strides (the frontend's convention for
  any memory order): cuDNN's convolution engines take packed NCHW and NHWC memory, so any other layout (the
  batch-last arrays the im2col path produces) is copied to NCHW first. One graph per :class:`ConvSpec` (kind,
  shapes, strides, padding, stride, dilation, dtype, bias, TF32), built once and cached.
* **TF32.** Off by default (float32 convolutions in float32, as anynn's im2col GEMMs without ``CUPY_TF32=1``);
  ``ANYNN_CUDNN_TF32=1`` lets cuDNN pick tensor-core (TF32) engines, as PyTorch does by default
  (``torch.backends.cudnn.allow_tf32``). Compare like with like.
* **Determinism.** Engines that cuDNN marks non-deterministic are left out, so the same inputs give the same
  gradients every run, as everywhere else in anynn.
* **Streams and memory.** Each call runs on CuPy's current stream (set on the cuDNN handle), with outputs and
  the workspace from CuPy's memory pool: no host sync, nothing uploaded.
"""
from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from typing import Any

ENABLE_ENV = "ANYNN_CUDNN"
TF32_ENV = "ANYNN_CUDNN_TF32"
#: numpy dtype name -> (cuDNN data type name for the tensors, for the arithmetic)
DATA_TYPES = {"float16": ("HALF", "FLOAT"), "float32": ("FLOAT", "FLOAT"), "float64": ("DOUBLE", "DOUBLE")}
KINDS = ("fprop", "dgrad", "wgrad")

Quad = tuple[int, int, int, int]
Pair = tuple[int, int]


def enabled() -> bool:
    """Whether cuDNN convolutions are asked for (``ANYNN_CUDNN=1``)."""
    return os.environ.get(ENABLE_ENV, "") == "1"


def tf32_allowed() -> bool:
    """Whether float32 convolutions may run on TF32 tensor cores (``ANYNN_CUDNN_TF32=1``)."""
    return os.environ.get(TF32_ENV, "") == "1"


# ------------------------------------------------------------------ descriptors (pure: tested on the CPU)
@dataclass(frozen=True)
class ConvSpec:
    """One convolution as a cuDNN graph describes it, and the key of its cached graph: (N, C, H, W) dims and
    element strides of the image ``x``, the filter ``w`` (K, C/groups, R, S) and the output ``y`` (N, K, P, Q)
    (for dgrad ``y`` is the incoming gradient and ``x`` the result; for wgrad ``w`` is the result)."""

    kind: str
    x_dim: Quad
    x_stride: Quad
    w_dim: Quad
    w_stride: Quad
    y_dim: Quad
    y_stride: Quad
    pre_padding: Pair
    post_padding: Pair
    stride: Pair
    dilation: Pair
    dtype: str
    bias: bool = False
    tf32: bool = False


def element_strides(a: Any) -> tuple[int, ...]:
    """``a``'s strides in elements (NumPy and CuPy give bytes)."""
    return tuple(s // a.itemsize for s in a.strides)


def packed_strides(dim: Quad, order: str = "NCHW") -> Quad:
    """The element strides of a packed (N, C, H, W) tensor stored in ``order`` (``NCHW`` or ``NHWC``)."""
    n, c, h, w = dim
    if order == "NHWC":
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)


def cudnn_layout(dim: Quad, stride: Quad) -> str | None:
    """``NCHW`` or ``NHWC`` if a tensor of ``dim`` with element ``stride`` is packed in that order (strides of
    unit axes do not matter), else None: cuDNN's convolution engines take those two."""
    for order in ("NCHW", "NHWC"):
        if all(d == 1 or s == p for d, s, p in zip(dim, stride, packed_strides(dim, order))):
            return order
    return None


def output_hw(x_hw: Pair, window: Pair, stride: Pair, dilation: Pair, pads: tuple[Pair, Pair]) -> Pair:
    """The output height and width (PyTorch's formula, with each side's padding)."""
    return tuple((n + p[0] + p[1] - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, p in zip(x_hw, window, stride, dilation, pads))


def conv_spec(kind: str, x_dim: Quad, x_stride: Quad, w_dim: Quad, w_stride: Quad, y_dim: Quad, y_stride: Quad,
              stride: Pair, dilation: Pair, pads: tuple[Pair, Pair], dtype: str, bias: bool = False,
              tf32: bool = False) -> ConvSpec:
    """A :class:`ConvSpec` from anynn's geometry (``pads``: ((top, bottom), (left, right))), checked."""
    if kind not in KINDS:
        raise ValueError(f"cuDNN convolution: kind {kind!r} is not one of {KINDS}")
    if dtype not in DATA_TYPES:
        raise ValueError(f"cuDNN convolution: dtype {dtype} is not one of {sorted(DATA_TYPES)}")
    if x_dim[0] != y_dim[0] or w_dim[0] != y_dim[1] or x_dim[1] % w_dim[1]:
        raise ValueError(f"cuDNN convolution: image {x_dim}, filter {w_dim} and output {y_dim} do not agree")
    want = output_hw(x_dim[2:], w_dim[2:], stride, dilation, pads)
    if tuple(y_dim[2:]) != want:
        raise ValueError(f"cuDNN convolution: output {y_dim} for image {x_dim}, filter {w_dim}, stride {stride}, "
                         f"dilation {dilation}, padding {pads}: expected spatial size {want}")
    (pt, pb), (pl, pr) = pads
    return ConvSpec(kind, tuple(x_dim), tuple(x_stride), tuple(w_dim), tuple(w_stride), tuple(y_dim),
                    tuple(y_stride), (pt, pl), (pb, pr), tuple(stride), tuple(dilation), dtype, bias,
                    tf32 and dtype == "float32")


def groups_of(spec: ConvSpec) -> int:
    """The number of groups (cuDNN reads it from the image's and the filter's channels)."""
    return spec.x_dim[1] // spec.w_dim[1]


# ------------------------------------------------------------------ graphs (need the frontend)
@dataclass
class _Plan:
    graph: Any
    tensors: dict[str, Any]  # role ("x", "w", "y", "b") -> the graph's tensor
    workspace: int


def build_graph(frontend: Any, spec: ConvSpec, handle: Any) -> _Plan:
    """The cuDNN graph of ``spec``: validated, its plans built (heuristics A, then the fallback list), TF32 and
    non-deterministic engines left out as ``spec`` says. Raises the frontend's error if cuDNN has no plan."""
    io_name, compute_name = DATA_TYPES[spec.dtype]
    io, compute = getattr(frontend.data_type, io_name), getattr(frontend.data_type, compute_name)
    graph = frontend.pygraph(io_data_type=io, intermediate_data_type=compute, compute_data_type=compute,
                             handle=handle)
    geometry = dict(pre_padding=list(spec.pre_padding), post_padding=list(spec.post_padding),
                    stride=list(spec.stride), dilation=list(spec.dilation), compute_data_type=compute)
    tensors: dict[str, Any] = {}

    def tensor(role: str, dim: Quad, stride: Quad) -> Any:
        tensors[role] = graph.tensor(name=role, dim=list(dim), stride=list(stride), data_type=io)
        return tensors[role]

    if spec.kind == "fprop":
        out = graph.conv_fprop(image=tensor("x", spec.x_dim, spec.x_stride),
                               weight=tensor("w", spec.w_dim, spec.w_stride), name="fprop", **geometry)
        if spec.bias:
            k = spec.y_dim[1]
            out.set_data_type(compute)  # the convolution's result stays inside the graph (virtual)
            out = graph.bias(input=out, bias=tensor("b", (1, k, 1, 1), (k, 1, 1, 1)), name="bias")
        out.set_output(True).set_dim(list(spec.y_dim)).set_stride(list(spec.y_stride)).set_data_type(io)
        tensors["y"] = out
    elif spec.kind == "dgrad":
        out = graph.conv_dgrad(loss=tensor("y", spec.y_dim, spec.y_stride),
                               filter=tensor("w", spec.w_dim, spec.w_stride), name="dgrad", **geometry)
        out.set_output(True).set_dim(list(spec.x_dim)).set_stride(list(spec.x_stride)).set_data_type(io)
        tensors["x"] = out
    else:
        out = graph.conv_wgrad(image=tensor("x", spec.x_dim, spec.x_stride),
                               loss=tensor("y", spec.y_dim, spec.y_stride), name="wgrad", **geometry)
        out.set_output(True).set_dim(list(spec.w_dim)).set_stride(list(spec.w_stride)).set_data_type(io)
        tensors["w"] = out
    notes = frontend.numerical_note
    graph.deselect_numeric_notes([notes.NONDETERMINISTIC] + ([] if spec.tf32 or spec.dtype != "float32" else
                                                             [notes.TENSOR_CORE, notes.DOWN_CONVERT_INPUTS]))
    graph.build([frontend.heur_mode.A, frontend.heur_mode.FALLBACK])
    return _Plan(graph, tensors, int(graph.get_workspace_size()))


def _library(a: Any) -> Any:
    """The array module (numpy or cupy) that made ``a``."""
    return importlib.import_module(type(a).__module__.split(".")[0])


class Convolutions:
    """Builds, caches and runs the cuDNN graphs; declines (returns None) wherever cuDNN cannot run a case,
    stating each reason once. ``frontend`` is the ``cudnn`` module (imported at the first call when None)."""

    def __init__(self, frontend: Any = None):
        self._frontend = frontend
        self._unavailable: str | None = None
        self._handles: dict[Any, Any] = {}
        self._plans: dict[ConvSpec, _Plan | str] = {}
        self._told: set[str] = set()

    # --------------------------------------------------------------- availability
    def frontend(self) -> Any:
        """The frontend module, or None (with the reason stated once) where it or the cuDNN library is missing."""
        if self._frontend is None and self._unavailable is None:
            try:
                module = importlib.import_module("cudnn")
                module.backend_version()  # loads the cuDNN library itself
                self._frontend = module
            except Exception as err:  # noqa: BLE001 - any failure to load means im2col
                self._unavailable = f"the cuDNN frontend or library cannot load ({type(err).__name__}: {err}); " \
                                    "pip install 'anynn[cudnn]' (nvidia-cudnn-frontend and nvidia-cudnn-cu12/13)"
        if self._frontend is None:
            self.tell(self._unavailable)
        return self._frontend

    def tell(self, reason: str) -> None:
        """Warn once per reason that cuDNN is not used and im2col runs instead."""
        if reason not in self._told:
            self._told.add(reason)
            warnings.warn(f"cuDNN convolutions cannot run here: {reason}; those convolutions run as im2col + GEMM",
                          RuntimeWarning, stacklevel=3)

    def _handle(self, frontend: Any, like: Any) -> Any:
        """The cuDNN handle of ``like``'s device, on CuPy's current stream."""
        lib = _library(like)
        cuda = getattr(lib, "cuda", None)
        device = cuda.Device().id if cuda is not None else None
        handle = self._handles.get(device)
        if handle is None:
            handle = self._handles[device] = frontend.create_handle()
        if cuda is not None:
            frontend.set_stream(handle=handle, stream=cuda.get_current_stream().ptr)
        return handle

    def _plan(self, spec: ConvSpec, like: Any) -> tuple[_Plan, Any] | None:
        frontend = self.frontend()
        if frontend is None:
            return None
        handle = self._handle(frontend, like)
        plan = self._plans.get(spec)
        if plan is None:
            try:
                plan = build_graph(frontend, spec, handle)
            except Exception as err:  # noqa: BLE001 - no plan for this case: im2col, said once per kind
                plan = f"cuDNN has no {spec.kind} plan for {spec.dtype} {spec.x_dim} * {spec.w_dim} " \
                       f"({type(err).__name__}: {err})"
            self._plans[spec] = plan
        if isinstance(plan, str):
            self.tell(plan)
            return None
        return plan, handle

    def _run(self, spec: ConvSpec, arrays: dict[str, Any]) -> bool:
        """Execute ``spec``'s graph on ``arrays`` (role -> array); False where cuDNN declines the case."""
        like = next(iter(arrays.values()))
        found = self._plan(spec, like)
        if found is None:
            return False
        plan, handle = found
        lib = _library(like)
        workspace = lib.empty((max(plan.workspace, 1),), dtype=lib.uint8)
        # the arrays themselves: the frontend takes their device pointers through DLPack (its Python engines need
        # the arrays, not bare pointers)
        plan.graph.execute({plan.tensors[role]: a for role, a in arrays.items()}, workspace, handle=handle)
        return True

    # -------------------------------------------------------------------- passes
    def _image(self, x: Any) -> Any:
        """``x`` itself if packed NCHW or NHWC, else an NCHW copy."""
        if cudnn_layout(tuple(x.shape), element_strides(x)) is not None:
            return x
        return _library(x).ascontiguousarray(x)

    def _declines(self, x: Any, weight: Any, groups: int) -> bool:
        return (x.ndim != 4 or weight.ndim != 4 or x.dtype != weight.dtype or x.dtype.name not in DATA_TYPES
                or groups != 1 or 0 in x.shape)

    def forward(self, x: Any, weight: Any, bias: Any, stride: Pair, dilation: Pair, pads: tuple[Pair, Pair],
                out_hw: Pair, groups: int) -> Any:
        """The (N, K, P, Q) output (NCHW) of ``x`` (N, C, H, W) and ``weight`` (K, C, R, S), plus ``bias``."""
        if self._declines(x, weight, groups) or (bias is not None and bias.dtype != x.dtype):
            return None
        x, weight = self._image(x), self._image(weight)
        lib = _library(x)
        y = lib.empty((x.shape[0], weight.shape[0]) + tuple(out_hw), dtype=x.dtype)
        spec = conv_spec("fprop", x.shape, element_strides(x), weight.shape, element_strides(weight), y.shape,
                         element_strides(y), stride, dilation, pads, x.dtype.name, bias is not None, tf32_allowed())
        arrays = {"x": x, "w": weight, "y": y}
        if bias is not None:
            arrays["b"] = lib.ascontiguousarray(bias)
        return y if self._run(spec, arrays) else None

    def input_grad(self, grad: Any, weight: Any, x_shape: Quad, stride: Pair, dilation: Pair,
                   pads: tuple[Pair, Pair]) -> Any:
        """The (N, C, H, W) input gradient (NCHW) from the output gradient ``grad`` (N, K, P, Q)."""
        if self._declines(grad, weight, 1) or len(x_shape) != 4:
            return None
        grad, weight = self._image(grad), self._image(weight)
        dx = _library(grad).empty(tuple(x_shape), dtype=grad.dtype)
        spec = conv_spec("dgrad", dx.shape, element_strides(dx), weight.shape, element_strides(weight), grad.shape,
                         element_strides(grad), stride, dilation, pads, grad.dtype.name, False, tf32_allowed())
        return dx if self._run(spec, {"y": grad, "w": weight, "x": dx}) else None

    def weight_grad(self, x: Any, grad: Any, weight_shape: Quad, stride: Pair, dilation: Pair,
                    pads: tuple[Pair, Pair]) -> Any:
        """The (K, C, R, S) weight gradient of an ungrouped convolution."""
        if self._declines(x, grad, 1) or len(weight_shape) != 4:
            return None
        x, grad = self._image(x), self._image(grad)
        dw = _library(x).empty(tuple(weight_shape), dtype=x.dtype)
        spec = conv_spec("wgrad", x.shape, element_strides(x), dw.shape, element_strides(dw), grad.shape,
                         element_strides(grad), stride, dilation, pads, x.dtype.name, False, tf32_allowed())
        return dw if self._run(spec, {"x": x, "y": grad, "w": dw}) else None


#: The process's convolutions (graphs cached per shape, handles per device).
CONVOLUTIONS = Convolutions()


def conv_forward(x, weight, bias, stride, dilation, pads, out_hw, groups):
    """``conv2d_direct``'s forward for the cupy backend (see ``anynn/ops/conv.py``)."""
    return CONVOLUTIONS.forward(x, weight, bias, stride, dilation, pads, out_hw, groups)


def conv_weight_grad(x, grad, weight_shape, stride, dilation, pads):
    """``conv2d_direct``'s backward (the weight gradient) for the cupy backend."""
    return CONVOLUTIONS.weight_grad(x, grad, weight_shape, stride, dilation, pads)


def conv_input_grad(grad, weight, x_shape, stride, dilation, pads):
    """``conv2d_input_grad``'s pass for the cupy backend: the input gradient after a cuDNN forward."""
    return CONVOLUTIONS.input_grad(grad, weight, x_shape, stride, dilation, pads)


__all__ = ["CONVOLUTIONS", "ConvSpec", "Convolutions", "DATA_TYPES", "ENABLE_ENV", "TF32_ENV", "build_graph",
           "conv_forward", "conv_input_grad", "conv_spec", "conv_weight_grad", "cudnn_layout", "element_strides",
           "enabled", "groups_of", "output_hw", "packed_strides", "tf32_allowed"]
