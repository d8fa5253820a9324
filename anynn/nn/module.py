"""``Module``: parameters, buffers and sub-modules in attributes, PyTorch's conventions for everything else."""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, Callable, Iterator

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.custom_function import Function
from anynn.autograd.grad_mode import is_grad_enabled, no_grad
from anynn.autograd.tensor import Tensor
from anynn.device import device as _Device, resolve_move
from anynn.nn.parameter import Parameter


class StateDictError(RuntimeError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries; the message lists them all."""


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook (also as a context
    manager: ``with module.register_forward_hook(h): ...``)."""

    def __init__(self, table: dict, key: object):
        self._table, self._key = table, key

    def remove(self) -> None:
        self._table.pop(self._key, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _register(table: dict, hook: Callable, prepend: bool, **flags: bool) -> RemovableHandle:
    """Put ``hook`` (with its ``flags``) into ``table``, first if ``prepend``; the handle that removes it."""
    key = object()
    table[key] = (hook, flags)
    if prepend:
        entries = list(table.items())
        table.clear()
        table.update([entries[-1]] + entries[:-1])
    return RemovableHandle(table, key)


def _check_name(module: "Module", name: Any, kind: str) -> None:
    """PyTorch's checks of a name given to ``register_buffer``/``register_parameter``/``add_module``."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "_parameters" not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    if "." in name:
        raise KeyError(f"{kind} name can't contain \".\", got: {name}")
    if name == "":
        raise KeyError(f"{kind} name can't be empty string \"\"")


class _TapFunction(Function):
    """Identity on several tensors at once, whose backward hands their gradients to ``ctx.on_grads`` (which may
    replace them): the node a full backward hook sits on, before the module's inputs or after its outputs."""

    @staticmethod
    def forward(ctx: Any, on_grads: Callable[[tuple], tuple], *tensors: Tensor) -> tuple:
        ctx.on_grads = on_grads
        ctx.set_materialize_grads(False)  # an output that got no gradient reaches the hooks as None
        return tuple(t.reshape(t.shape) for t in tensors)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor | None) -> tuple:
        return (None, *ctx.on_grads(grads))


class _BackwardHooks:
    """One call's wiring of a module's full backward (pre-)hooks, as PyTorch's ``BackwardHook``: identity taps
    on the tensor inputs that need a gradient and on the tensor outputs."""

    def __init__(self, module: "Module", n_args: int):
        self.module, self.n_args = module, n_args
        self.input_slots: list[int] = []
        self.grad_outputs: tuple | None = None

    def tap_inputs(self, args: tuple) -> tuple:
        self.input_slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_slots:
            return args
        tapped = _TapFunction.apply(self._on_input_grads, *(args[i] for i in self.input_slots))
        args = list(args)
        for i, t in zip(self.input_slots, tapped):
            args[i] = t
        return tuple(args)

    def tap_outputs(self, out: Any) -> Any:
        single = isinstance(out, Tensor)
        items = (out,) if single else tuple(out) if isinstance(out, (tuple, list)) else ()
        slots = [i for i, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
        if not slots:
            return out
        self.output_count = len(items)
        self.output_slots = slots
        tapped = _TapFunction.apply(self._on_output_grads, *(items[i] for i in slots))
        items = list(items)
        for i, t in zip(slots, tapped):
            items[i] = t
        return items[0] if single else type(out)(items)

    def _on_output_grads(self, grads: tuple) -> tuple:
        full = [None] * self.output_count
        for i, g in zip(self.output_slots, grads):
            full[i] = g
        grad_output = tuple(full)
        for hook, _ in list(self.module._backward_pre_hooks.values()):
            result = hook(self.module, grad_output)
            if result is not None:
                grad_output = _check_grads("full backward pre-hook", result, grad_output)
        self.grad_outputs = grad_output
        if not self.input_slots and self.module._backward_hooks:  # the hooks run now, with grad_input all None
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module outputs "
                          "since no inputs require gradients.", stacklevel=2)
            self._run_hooks((None,) * self.n_args)
        return tuple(grad_output[i] for i in self.output_slots)

    def _on_input_grads(self, grads: tuple) -> tuple:
        full = [None] * self.n_args
        for i, g in zip(self.input_slots, grads):
            full[i] = g
        grad_input = self._run_hooks(tuple(full))
        return tuple(grad_input[i] for i in self.input_slots)

    def _run_hooks(self, grad_input: tuple) -> tuple:
        grad_output = self.grad_outputs if self.grad_outputs is not None else ()
        for hook, _ in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                grad_input = _check_grads("full backward hook", result, grad_input)
        return grad_input


def _check_grads(what: str, result: Any, old: tuple) -> tuple:
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(result) != len(old):
        raise RuntimeError(f"{what} returned {len(result)} gradients but {len(old)} were expected (one per "
                           "entry of the tuple it was given)")
    return result


class Module:
    """Base class of every layer and model. Subclasses set attributes in ``__init__`` and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_backward_hooks", {})
        object.__setattr__(self, "_backward_pre_hooks", {})

    # ------------------------------------------------------------ registry
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (anynn.Tensor or None "
                                "expected)")
            self._buffers[name] = value  # stays a buffer, in its place (as in PyTorch)
            return
        if name in self._parameters and value is not None and not isinstance(value, Parameter):
            raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (anynn.nn.Parameter or "
                            "None expected); to change its values assign to .array")
        keep = (self._parameters if isinstance(value, Parameter) else self._modules if isinstance(value, Module)
                else None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        if keep is not None:
            keep[name] = value  # a replaced entry keeps its place in the order (as in PyTorch)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not trained (BatchNorm's running statistics)."""
        _check_name(self, name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (anynn.Tensor or "
                            "None required)")
        if name in self.__dict__ or name in self._parameters or name in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        else:
            self.__dict__.get("_non_persistent", set()).discard(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        _check_name(self, name, "parameter")
        if name in self.__dict__ or name in self._buffers or name in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(anynn.nn.Parameter or None required)")
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(self, name, "module")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        """The sub-module at a dotted path (``'features.0'``); '' is this module."""
        module = self
        for part in target.split(".") if target else ():
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}` (looking up {target!r})")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``'features.0.weight'``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter `{name}` (looking up {target!r})")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (``'bn.running_mean'``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._buffers:
            raise AttributeError(f"{type(module).__name__} has no buffer `{name}` (looking up {target!r})")
        return module._buffers[name]

    # ------------------------------------------------------------- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks:
            for hook, flags in list(self._forward_pre_hooks.values()):
                if flags["with_kwargs"]:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {result!r}")
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
        taps = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            taps = _BackwardHooks(self, len(args))
            args = taps.tap_inputs(args)
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook, flags in list(self._forward_hooks.values()):
                result = hook(self, args, kwargs, out) if flags["with_kwargs"] else hook(self, args, out)
                if result is not None:
                    out = result
        return out if taps is None else taps.tap_outputs(out)

    def register_full_backward_hook(self, hook: Callable[["Module", tuple, tuple], Any], *,
                                    prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients of the module's inputs are known
        (one entry per positional argument: None for non-tensors and tensors without gradient); a non-None
        result (a tuple of the same length) replaces ``grad_input``. Where no input needs a gradient, the hook
        runs when the output gradients are known, with ``grad_input`` all None (as PyTorch)."""
        return _register(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable[["Module", tuple], Any], *,
                                        prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients of the module's outputs are known, before the
        module's own backward; a non-None result (a tuple) replaces ``grad_output``."""
        return _register(self._backward_pre_hooks, hook, prepend)

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward (``hook(module, args, kwargs)`` with
        ``with_kwargs``); a non-None result replaces the arguments (a single value becomes ``(value,)``)."""
        return _register(self._forward_pre_hooks, hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``); a non-None result replaces the output."""
        return _register(self._forward_hooks, hook, prepend, with_kwargs=with_kwargs)

    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is not None:
                p.grad = None if set_to_none else Tensor._make(p.grad.xp.zeros_like(p.grad.array), p.grad.backend)

    def requires_grad_(self, flag: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """Every module once (a shared one under its first name), or under every name with remove_duplicate=False."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def _named(self, table: str, prefix: str = "", recurse: bool = True,
               remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, value in module.__dict__[table].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ state
    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name, PyTorch's keys (``features.0.weight``), each key
        after ``prefix``, into ``destination`` if given; detached tensors sharing storage, or with
        ``keep_vars`` the Parameters and buffers themselves."""
        state = OrderedDict() if destination is None else destination
        for mod_name, module in self.named_modules(remove_duplicate=False):
            skip = module.__dict__.get("_non_persistent", set())
            for table in ("_parameters", "_buffers"):
                for name, value in module.__dict__[table].items():
                    if value is not None and name not in skip:
                        key = prefix + (f"{mod_name}.{name}" if mod_name else name)
                        state[key] = value if keep_vars else value.detach()
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values in by name, in place; accepts Tensors, NumPy arrays and any backend's arrays, cast to each
        entry's dtype. Returns ``(missing_keys, unexpected_keys)``; with ``strict`` any mismatch raises, listing all."""
        name = type(self).__name__
        if isinstance(state_dict, (str, bytes)) or hasattr(state_dict, "__fspath__"):
            raise TypeError(f"{name}.load_state_dict got a file path ({state_dict!r}), not a state dict: load the "
                            "file first, model.load_state_dict(anynn.load(path)) (for a training checkpoint: "
                            "anynn.training.load_checkpoint(path, model))")
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"{name}.load_state_dict expected a dict mapping names to tensors (as returned by "
                            f"state_dict()), got {type(state_dict).__name__}"
                            + ("; pass other.state_dict()" if isinstance(state_dict, Module) else ""))
        if {"model", "epoch", "optimizer"} <= set(state_dict) and isinstance(state_dict["model"], dict):
            raise TypeError(f"{name}.load_state_dict got a training checkpoint (model, optimizer, epoch, ...), not "
                            "a state dict: pass checkpoint['model'], or use anynn.training.load_checkpoint(path, "
                            "model)")
        own: dict[str, tuple[Module, str, Tensor]] = {}
        for mod_name, module in self.named_modules(remove_duplicate=False):
            skip = module.__dict__.get("_non_persistent", set())
            for table in ("_parameters", "_buffers"):
                for name, value in module.__dict__[table].items():
                    if value is not None and name not in skip:
                        own[f"{mod_name}.{name}" if mod_name else name] = (module, table, value)
        for key, (_, _, target) in own.items():  # a lazy layer's parameters take the checkpoint's shapes
            if key in state_dict and hasattr(target, "materialize"):
                target.materialize(tuple(getattr(state_dict[key], "shape", ())))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for key, (_, _, target) in own.items():
            if key in state_dict:
                shape = tuple(getattr(state_dict[key], "shape", ()))
                if shape != target.shape:
                    mismatched.append(f"{key}: checkpoint {shape} vs model {target.shape}")
        if strict and (missing or unexpected or mismatched):
            lines = [f"{type(self).__name__}.load_state_dict found a checkpoint that does not match the model:"]
            if missing:
                lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
            if unexpected:
                lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
            if mismatched:
                lines.append(f"  shape mismatches ({len(mismatched)}): {'; '.join(mismatched)}")
            lines.append("  load with strict=False to copy only the entries that match")
            raise StateDictError("\n".join(lines))
        bad = {m.split(":")[0] for m in mismatched}
        with no_grad():  # in place, as PyTorch's param.copy_(value): views and optimizers keep seeing the tensor
            for key, (_, _, target) in own.items():
                if key in state_dict and key not in bad:
                    value = state_dict[key]
                    target.copy_(value if isinstance(value, Tensor) else Tensor(value))
        return missing, unexpected

    # ------------------------------------------------------------ movement
    def to(self, target: Any = None, dtype: D.DType | str | None = None, non_blocking: bool = False, *,
           backend: str | None = None, device: Any = None) -> "Module":
        """Move every parameter and buffer, with its gradient, in place: a device ('cpu', 'cuda:0',
        ``anynn.device``), a dtype, a tensor's backend and dtype, or a backend ('torch'), as ``Tensor.to``.
        Integer buffers keep their dtype. The tensors stay the same objects, so an optimizer built before keeps
        working: it moves its state (momentum buffers, ...) after them at its next step, as PyTorch's does."""
        for tensor in list(self.parameters()) + list(self.buffers()):
            dest, new_dtype = resolve_move(tensor.backend, target, backend=backend, device=device, dtype=dtype)
            if not tensor.dtype.is_floating_point:
                new_dtype = None
            if (dest is None or dest is tensor.backend) and (new_dtype is None or new_dtype is tensor.dtype):
                continue
            moved = tensor.detach().to(dest, dtype=new_dtype)
            tensor.array, tensor._backend = moved.array, moved.backend
            if tensor.grad is not None:
                tensor.grad = tensor.grad.detach().to(dest, dtype=new_dtype)
        return self

    def cuda(self, device: Any = None) -> "Module":
        """Move to a GPU (torch's CUDA for torch tensors, CuPy for the others); see ``Tensor.cuda``."""
        return self.to(device="cuda" if device is None else _Device(device))

    def cpu(self) -> "Module":
        """Move to the CPU (the same library's where it has one, NumPy for CuPy)."""
        return self.to(device="cpu")

    def float(self) -> "Module":
        return self.to(D.float32)

    def double(self) -> "Module":
        return self.to(D.float64)

    def half(self) -> "Module":
        return self.to(D.float16)

    @property
    def backend(self) -> B.Backend:
        """The backend of this module's first parameter (the current backend if it has none)."""
        for p in self.parameters():
            return p.backend
        return B.get_backend()

    # ------------------------------------------------------------ display
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        return head + "\n  " + "\n  ".join(children) + "\n)"
