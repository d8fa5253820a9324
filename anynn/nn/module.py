"""``Module``: parameters, buffers and sub-modules in attributes, PyTorch's conventions for everything else."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator

from anynn import backends as B
from anynn import dtypes as D
from anynn.autograd.tensor import Tensor
from anynn.nn.parameter import Parameter


class StateDictError(RuntimeError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries; the message lists them all."""


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, table: dict, key: object):
        self._table, self._key = table, key

    def remove(self) -> None:
        self._table.pop(self._key, None)


class Module:
    """Base class of every layer and model. Subclasses set attributes in ``__init__`` and define ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", {})

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
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
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
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self.__dict__.pop(name, None)
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def add_module(self, name: str, module: "Module | None") -> None:
        self._modules[name] = module

    # ------------------------------------------------------------- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(self, hook: Callable[["Module", tuple, Any], Any]) -> "RemovableHandle":
        """Call ``hook(module, inputs, output)`` after every forward; a non-None result replaces the output."""
        key = object()
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    def train(self, mode: bool = True) -> "Module":
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

    def _named(self, table: str, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        for mod_name, module in self.named_modules(prefix=prefix):
            for name, value in module.__dict__[table].items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        yield from self._named("_parameters", prefix)

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        yield from self._named("_buffers", prefix)

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name, PyTorch's keys (``features.0.weight``)."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for mod_name, module in self.named_modules(remove_duplicate=False):
            skip = module.__dict__.get("_non_persistent", set())
            for table in ("_parameters", "_buffers"):
                for name, value in module.__dict__[table].items():
                    if value is not None and name not in skip:
                        state[f"{mod_name}.{name}" if mod_name else name] = value.detach()
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values in by name; accepts Tensors, NumPy arrays and any backend's arrays, cast to each entry's
        dtype. Returns ``(missing_keys, unexpected_keys)``; with ``strict`` any mismatch raises, listing all."""
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
        for key, (_, _, target) in own.items():
            if key in state_dict and key not in bad:
                value = state_dict[key]
                target.array = target.backend.asarray(value.array if isinstance(value, Tensor) else value, target.dtype)
        return missing, unexpected

    # ------------------------------------------------------------ movement
    def to(self, target: Any = None, *, backend: str | None = None, device: str | None = None,
           dtype: D.DType | str | None = None) -> "Module":
        """Move every parameter and buffer in place (optimizers keep their references): backend, device or
        dtype, as ``Tensor.to``. Integer buffers keep their dtype."""
        if isinstance(target, D.DType) or (isinstance(target, str) and target in D._BY_NAME):
            target, dtype = None, target
        for tensor in list(self.parameters()) + list(self.buffers()):
            moved = tensor.detach().to(target, backend=backend, device=device,
                                       dtype=dtype if tensor.dtype.is_floating_point else None)
            tensor.array, tensor._backend = moved.array, moved.backend
            tensor.grad = None
        return self

    def float(self) -> "Module":
        return self.to(D.float32)

    def double(self) -> "Module":
        return self.to(D.float64)

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
