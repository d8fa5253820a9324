"""Layers and containers with PyTorch's names, signatures, defaults and ``state_dict`` keys."""
from anynn.nn.module import Module, StateDictError
from anynn.nn.parameter import Parameter
from anynn.nn.containers import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from anynn.nn.activation import *  # noqa: F401,F403
from anynn.nn.conv import *  # noqa: F401,F403
from anynn.nn.distance import *  # noqa: F401,F403
from anynn.nn.dropout import *  # noqa: F401,F403
from anynn.nn.flatten import *  # noqa: F401,F403
from anynn.nn.linear import *  # noqa: F401,F403
from anynn.nn.loss import *  # noqa: F401,F403
from anynn.nn.normalization import *  # noqa: F401,F403
from anynn.nn.padding import *  # noqa: F401,F403
from anynn.nn.pooling import *  # noqa: F401,F403
from anynn.nn.rnn import *  # noqa: F401,F403
from anynn.nn.sparse import *  # noqa: F401,F403
from anynn.nn.upsampling import *  # noqa: F401,F403
from anynn.nn.lazy import LazyConv1d, LazyConv2d, LazyLinear, UninitializedParameter  # noqa: E402,F401
from anynn.nn import functional, init  # noqa: E402
from anynn.nn import utils  # noqa: E402
from anynn.distributed.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm  # noqa: E402,F401
from anynn.nn import parallel  # noqa: E402,F401
