"""60 Minute Blitz, "Neural Networks": the LeNet-style Net, backward with a given gradient, MSELoss,
grad_fn.next_functions, the manual update ``f.data.sub_(f.grad.data * learning_rate)`` and optim.SGD.

Source: https://pytorch.org/tutorials/beginner/blitz/neural_networks_tutorial.html
(pytorch/tutorials, beginner_source/blitz/neural_networks_tutorial.py).
Changes: the ``torch.randn`` input, output gradient and target are seeded NumPy arrays; ``numpy_weights``
after building the net.
"""
import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    gen = np.random.default_rng(0)

    class Net(nn.Module):

        def __init__(self):
            super(Net, self).__init__()
            # 1 input image channel, 6 output channels, 5x5 square convolution
            # kernel
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # an affine operation: y = Wx + b
            self.fc1 = nn.Linear(16 * 5 * 5, 120)  # 5*5 from image dimension
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, input):
            # Convolution layer C1: 1 input image channel, 6 output channels,
            # 5x5 square convolution, it uses RELU activation function, and
            # outputs a Tensor with size (N, 6, 28, 28), where N is the size of the batch
            c1 = F.relu(self.conv1(input))
            # Subsampling layer S2: 2x2 grid, purely functional,
            # this layer does not have any parameter, and outputs a (N, 6, 14, 14) Tensor
            s2 = F.max_pool2d(c1, (2, 2))
            # Convolution layer C3: 6 input channels, 16 output channels,
            # 5x5 square convolution, it uses RELU activation function, and
            # outputs a (N, 16, 10, 10) Tensor
            c3 = F.relu(self.conv2(s2))
            # Subsampling layer S4: 2x2 grid, purely functional,
            # this layer does not have any parameter, and outputs a (N, 16, 5, 5) Tensor
            s4 = F.max_pool2d(c3, 2)
            # Flatten operation: purely functional, outputs a (N, 400) Tensor
            s4 = torch.flatten(s4, 1)
            # Fully connected layer F5: (N, 400) Tensor input,
            # and outputs a (N, 120) Tensor, it uses RELU activation function
            f5 = F.relu(self.fc1(s4))
            # Fully connected layer F6: (N, 120) Tensor input,
            # and outputs a (N, 84) Tensor, it uses RELU activation function
            f6 = F.relu(self.fc2(f5))
            # Gaussian layer OUTPUT: (N, 84) Tensor input, and
            # outputs a (N, 10) Tensor
            output = self.fc3(f6)
            return output

    net = Net()
    numpy_weights(torch, net)
    print(net)

    params = list(net.parameters())
    print(len(params))
    print(params[0].size())  # conv1's .weight

    input = torch.tensor(gen.standard_normal((1, 1, 32, 32), dtype=np.float32))
    out = net(input)
    print(out)

    net.zero_grad()
    out.backward(torch.tensor(gen.standard_normal((1, 10), dtype=np.float32)))
    fc3_grad = net.fc3.weight.grad[0].tolist()

    output = net(input)
    target = torch.tensor(gen.standard_normal(10, dtype=np.float32))  # a dummy target, for example
    target = target.view(1, -1)  # make it the same shape as output
    criterion = nn.MSELoss()

    loss = criterion(output, target)
    print(loss)

    print(loss.grad_fn)  # MSELoss
    print(loss.grad_fn.next_functions[0][0])  # Linear
    print(loss.grad_fn.next_functions[0][0].next_functions[0][0])  # ReLU

    net.zero_grad()     # zeroes the gradient buffers of all parameters

    print('conv1.bias.grad before backward')
    print(net.conv1.bias.grad)
    before = net.conv1.bias.grad is None

    loss.backward()

    print('conv1.bias.grad after backward')
    print(net.conv1.bias.grad)
    after = net.conv1.bias.grad.tolist()

    learning_rate = 0.01
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)

    optim = torch.optim

    # create your optimizer
    optimizer = optim.SGD(net.parameters(), lr=0.01)

    # in your training loop:
    optimizer.zero_grad()   # zero the gradient buffers
    output = net(input)
    loss2 = criterion(output, target)
    loss2.backward()
    optimizer.step()    # Does the update

    return {"n_params": len(params), "conv1_size": list(params[0].size()), "out": out.tolist(),
            "fc3_grad": fc3_grad, "loss": loss.item(), "grad_none_after_zero_grad": before,
            "conv1_bias_grad": after, "loss2": loss2.item(), "fc3_bias": net.fc3.bias.tolist()}
