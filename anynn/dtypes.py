"""Backend-independent dtypes: ``anynn.float32`` means the same thing on NumPy, CuPy, torch and strict.

Each backend maps a :class:`DType` to its own dtype object by name; tensors report ``anynn`` dtypes so user
code compares ``x.dtype == anynn.float32`` whatever the backend.
"""
from __future__ import annotations


class DType:
    """A named dtype; ``kind`` is 'f' (real float), 'i' (signed int), 'u' (unsigned int) or 'b' (bool)."""

    __slots__ = ("name", "kind", "itemsize")

    def __init__(self, name: str, kind: str, itemsize: int):
        self.name = name
        self.kind = kind
        self.itemsize = itemsize

    @property
    def is_floating_point(self) -> bool:
        return self.kind == "f"

    @property
    def is_signed(self) -> bool:
        return self.kind in "fi"

    @property
    def is_complex(self) -> bool:
        return False  # no complex dtypes here (yet); PyTorch code asks

    def __repr__(self) -> str:
        return f"anynn.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


float16 = DType("float16", "f", 2)
float32 = DType("float32", "f", 4)
float64 = DType("float64", "f", 8)
int8 = DType("int8", "i", 1)
int16 = DType("int16", "i", 2)
int32 = DType("int32", "i", 4)
int64 = DType("int64", "i", 8)
uint8 = DType("uint8", "u", 1)
bool_ = DType("bool", "b", 1)

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
#: PyTorch's other names for the same dtypes (``torch.float`` is float32, ``torch.long`` int64, ...); the
#: package exports them as ``anynn.float``, ``anynn.long`` ...
TORCH_ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
                 "short": int16, "bool": bool_}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(TORCH_ALIASES)

_default_float = float32


def from_name(name: str) -> DType:
    """Look a dtype up by name ('float32', 'double', ...)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of {sorted(_BY_NAME)}") from None


def as_dtype(dtype: DType | str | None) -> DType | None:
    """Accept an anynn dtype, its name, a library's dtype object (NumPy, torch, strict), or None."""
    if dtype is None or isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, str):
        return from_name(dtype)
    name = getattr(dtype, "name", None)  # NumPy/CuPy dtype objects; torch and strict dtypes print as 'x.float32'
    if not isinstance(name, str):
        name = getattr(dtype, "__name__", None) if isinstance(dtype, type) else None  # np.float32 (a class)
    if not isinstance(name, str):
        name = str(dtype).rsplit(".", 1)[-1]
    return from_name(name)


def set_default_dtype(dtype: DType | str) -> None:
    """Set the float dtype used by factories when none is given (float32 unless changed)."""
    global _default_float
    dtype = as_dtype(dtype)
    if dtype is None or not dtype.is_floating_point:
        raise TypeError(f"set_default_dtype expects a floating dtype (anynn.float32/float64), got {dtype!r}")
    _default_float = dtype


def get_default_dtype() -> DType:
    """The float dtype factories use when none is given."""
    return _default_float


__all__ = ["ALL", "DType", "TORCH_ALIASES", "as_dtype", "bool_", "float16", "float32", "float64", "from_name",
           "get_default_dtype", "int8", "int16", "int32", "int64", "set_default_dtype", "uint8"]
