"""Optimizers and learning-rate schedules with PyTorch's names, defaults, update formulas and state_dicts."""
from anynn.optim.optimizer import Optimizer, required
from anynn.optim.sgd import SGD
from anynn.optim.adagrad import Adagrad
from anynn.optim.rmsprop import RMSprop
from anynn.optim.adadelta import Adadelta
from anynn.optim.adam import Adam
from anynn.optim.adamw import AdamW
from anynn.optim.adam_variants import Adamax, RAdam
from anynn.optim.lbfgs import LBFGS
from anynn.optim.rprop import Rprop
from anynn.optim import lr_scheduler

__all__ = ["Optimizer", "required", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "RAdam",
           "Rprop", "LBFGS", "lr_scheduler"]
