"""Define-by-run automatic differentiation: Tensor, Function, grad modes and gradcheck."""
from anynn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from anynn.autograd.tensor import BackendMismatchError, Tensor
from anynn.autograd.function import Context, Function

__all__ = ["BackendMismatchError", "Context", "Function", "Tensor", "enable_grad", "is_grad_enabled", "no_grad",
           "set_grad_enabled"]
