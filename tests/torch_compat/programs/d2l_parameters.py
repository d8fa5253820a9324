# ruff: noqa: E711, E721 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 5.2 "Parameter Management" (PyTorch): state_dict of a layer, ``type(bias)``,
``.data``, ``weight.grad == None``, named_parameters, ``state_dict()['2.bias'].data``, nested blocks with
``add_module``, ``apply`` with nn.init.normal_/zeros_/constant_/xavier_uniform_/uniform_, in-place edits of
``.data`` (``*=``, ``[:] += 1``, ``[0, 0] = 42``) and a shared layer.

Source: https://d2l.ai/chapter_deep-learning-computation/parameters.html
(d2l-ai/d2l-en v0.17.6, chapter_deep-learning-computation/parameters.md, the pytorch tab).
Changes: the ``torch.rand`` input is a seeded NumPy array; ``numpy_weights`` after building each model and
wherever a random initialiser ran (its result is compared by shape and range only).
"""
import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    out = {}

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    numpy_weights(torch, net)
    X = torch.tensor(np.random.default_rng(0).random((2, 4), dtype=np.float32))
    out["net(X)"] = net(X).tolist()

    print(net[2].state_dict())
    out["state_dict_keys"] = list(net[2].state_dict().keys())

    print(type(net[2].bias))
    print(net[2].bias)
    print(net[2].bias.data)
    out["bias_type"] = type(net[2].bias).__name__
    out["bias_data"] = net[2].bias.data.tolist()

    out["grad_is_none"] = net[2].weight.grad == None

    print(*[(name, param.shape) for name, param in net[0].named_parameters()])
    print(*[(name, param.shape) for name, param in net.named_parameters()])
    out["named"] = [[name, list(param.shape)] for name, param in net.named_parameters()]

    out["2.bias"] = net.state_dict()['2.bias'].data.tolist()

    def block1():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                             nn.Linear(8, 4), nn.ReLU())

    def block2():
        net = nn.Sequential()
        for i in range(4):
            # Nested here
            net.add_module(f'block {i}', block1())
        return net

    rgnet = nn.Sequential(block2(), nn.Linear(4, 1))
    numpy_weights(torch, rgnet)
    out["rgnet(X)"] = rgnet(X).tolist()

    print(rgnet)
    out["rgnet_bias"] = rgnet[0][1][0].bias.data.tolist()
    out["rgnet_keys"] = list(rgnet.state_dict().keys())

    def init_normal(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.zeros_(m.bias)
    net.apply(init_normal)
    net[0].weight.data[0], net[0].bias.data[0]
    out["normal_small"] = bool((net[0].weight.data.abs() < 0.1).all())
    out["zeros"] = net[0].bias.data.tolist()

    def init_constant(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 1)
            nn.init.zeros_(m.bias)
    net.apply(init_constant)
    out["constant"] = [net[0].weight.data[0].tolist(), net[0].bias.data[0].item()]

    def xavier(m):
        if type(m) == nn.Linear:
            nn.init.xavier_uniform_(m.weight)
    def init_42(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 42)

    net[0].apply(xavier)
    net[2].apply(init_42)
    print(net[0].weight.data[0])
    print(net[2].weight.data)
    bound = (6 / (4 + 8)) ** 0.5
    out["xavier_in_bound"] = bool((net[0].weight.data.abs() <= bound).all())
    out["42"] = net[2].weight.data.tolist()

    def my_init(m):
        if type(m) == nn.Linear:
            print("Init", *[(name, param.shape)
                            for name, param in m.named_parameters()][0])
            nn.init.uniform_(m.weight, -10, 10)
            m.weight.data *= m.weight.data.abs() >= 5

    net.apply(my_init)
    net[0].weight[:2]
    w = net[0].weight.data
    out["my_init"] = all(v == 0 or abs(v) >= 5 for v in sum(w.tolist(), []))

    numpy_weights(torch, net)
    net[0].weight.data[:] += 1
    net[0].weight.data[0, 0] = 42
    out["edited"] = net[0].weight.data[0].tolist()

    # We need to give the shared layer a name so that we can refer to its
    # parameters
    shared = nn.Linear(8, 8)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                        shared, nn.ReLU(),
                        shared, nn.ReLU(),
                        nn.Linear(8, 1))
    numpy_weights(torch, net)
    out["shared(X)"] = net(X).tolist()
    # Check whether the parameters are the same
    print(net[2].weight.data[0] == net[4].weight.data[0])
    net[2].weight.data[0, 0] = 100
    # Make sure that they are actually the same object rather than just having the
    # same value
    print(net[2].weight.data[0] == net[4].weight.data[0])
    out["shared_same"] = (net[2].weight.data[0] == net[4].weight.data[0]).tolist()
    out["shared_count"] = len(list(net.parameters()))
    return out
