"""anynn: a readable deep-learning framework written once against the Array API standard.

The same model trains on NumPy, CuPy, PyTorch tensors or array-api-strict; pick one with
``ANYNN_BACKEND`` or :func:`set_backend`.
"""
from anynn import backends
from anynn.backends import (BackendUnavailable, available, get_backend, manual_seed, set_backend, use_backend,
                            why_unavailable)
from anynn.dtypes import (TORCH_ALIASES, DType, bool_, float16, float32, float64, get_default_dtype, int8, int16,
                          int32, int64, set_default_dtype, uint8)
from anynn.autograd import (ArrayFunction, BackendMismatchError, Tensor, enable_grad, is_grad_enabled, no_grad,
                            set_grad_enabled)
from anynn.autograd.factories import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full,
                                      full_like, linspace, multinomial, normal, ones, ones_like, rand, rand_like,
                                      randint, randint_like, randn, randn_like, randperm, tensor, zeros, zeros_like)
from anynn.autograd.gradcheck import GradcheckError, gradcheck
from anynn import data, datasets, models, nn, optim, training
from anynn import accelerator, amp, cuda, utils
from anynn.amp import autocast, get_autocast_dtype, is_autocast_enabled
from anynn.device import device, get_default_device, set_default_device
from anynn.legacy import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
                          LongTensor, ShortTensor)
from anynn.serialization import load, save
from anynn import ops
from anynn.functions import *  # noqa: E402,F403  (the torch.* functions: sum, max, gather, einsum, ...)
from anynn.ops.sorting import ValuesIndices

__version__ = "0.1.0"


# PyTorch's dtype names (anynn.float, anynn.long, anynn.int, anynn.bool, ...), bound last: they shadow the builtins
# of this module, whose annotations (float | None) are evaluated when each def runs.
globals().update(TORCH_ALIASES)
