"""The functional forms (``anynn.nn.functional as F``): ``F.conv2d``, ``F.cross_entropy``, ... as in PyTorch.

All math lives in ``anynn.ops``; this module only gathers the public names in one place.
"""
from anynn.ops.activation import *  # noqa: F401,F403
from anynn.ops.conv import *  # noqa: F401,F403
from anynn.ops.distance import *  # noqa: F401,F403
from anynn.ops.dropout import *  # noqa: F401,F403
from anynn.ops.embedding import *  # noqa: F401,F403
from anynn.ops.indexing import one_hot  # noqa: F401
from anynn.ops.linear import *  # noqa: F401,F403
from anynn.ops.loss import *  # noqa: F401,F403
from anynn.ops.norm import *  # noqa: F401,F403
from anynn.ops.padding import *  # noqa: F401,F403
from anynn.ops.pool import *  # noqa: F401,F403
from anynn.ops.recurrent import *  # noqa: F401,F403
from anynn.ops.upsample import *  # noqa: F401,F403
