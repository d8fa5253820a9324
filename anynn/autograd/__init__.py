"""Define-by-run automatic differentiation: Tensor, ArrayFunction, grad modes, anomaly mode and gradcheck."""
from anynn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from anynn.autograd.tensor import BackendMismatchError, Tensor
from anynn.autograd.function import ArrayFunction, Context
from anynn.autograd.anomaly import AnomalyError, detect_anomaly, set_detect_anomaly

__all__ = ["AnomalyError", "ArrayFunction", "BackendMismatchError", "Context", "Tensor", "detect_anomaly",
           "enable_grad", "is_grad_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled"]
