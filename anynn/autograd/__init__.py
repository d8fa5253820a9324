"""Define-by-run automatic differentiation: Tensor, ArrayFunction (array-level ops), Function (PyTorch's custom
Function on Tensors), ``grad``/``backward``, grad modes, anomaly mode and gradcheck."""
from anynn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from anynn.autograd.tensor import BackendMismatchError, Tensor
from anynn.autograd.function import ArrayFunction, Context
from anynn.autograd.anomaly import AnomalyError, detect_anomaly, set_detect_anomaly
from anynn.autograd.custom_function import Function, FunctionCtx, once_differentiable
from anynn.autograd.engine import backward, grad
from anynn.autograd.gradcheck import GradcheckError, gradcheck

__all__ = ["AnomalyError", "ArrayFunction", "BackendMismatchError", "Context", "Function", "FunctionCtx",
           "GradcheckError", "Tensor", "backward", "detect_anomaly", "enable_grad", "grad", "gradcheck",
           "is_grad_enabled", "no_grad", "once_differentiable", "set_detect_anomaly", "set_grad_enabled"]
