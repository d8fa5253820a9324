# ruff: noqa: E712, E721 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 4.6 "Dropout" (PyTorch): ``dropout_layer`` from scratch with
``(torch.rand(X.shape) > dropout).float()``, a Net that sets ``self.training`` in its constructor, and the
concise version with nn.Dropout.

Source: https://d2l.ai/chapter_multilayer-perceptrons/dropout.html
(d2l-ai/d2l-en v0.17.6, chapter_multilayer-perceptrons/dropout.md, the pytorch tab).
Changes: Fashion-MNIST -> the stand-in loader of ``_d2l``; 10 -> 2 epochs. The dropout masks differ between
frameworks, so the numbers compared are those that do not depend on them: dropout with p=0 and p=1, what
p=0.5 keeps (each value either 0 or doubled), and that the training losses stay finite.
"""
from _d2l import d2l_for


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    def dropout_layer(X, dropout):
        assert 0 <= dropout <= 1
        # In this case, all elements are dropped out
        if dropout == 1:
            return torch.zeros_like(X)
        # In this case, all elements are kept
        if dropout == 0:
            return X
        mask = (torch.rand(X.shape) > dropout).float()
        return mask * X / (1.0 - dropout)

    X= torch.arange(16, dtype = torch.float32).reshape((2, 8))
    print(X)
    print(dropout_layer(X, 0.))
    print(dropout_layer(X, 0.5))
    print(dropout_layer(X, 1.))
    half = dropout_layer(X, 0.5)
    kept_or_doubled = all(h in (0.0, 2 * x) for h, x in zip(sum(half.tolist(), []), sum(X.tolist(), [])))

    num_inputs, num_outputs, num_hiddens1, num_hiddens2 = 784, 10, 256, 256

    dropout1, dropout2 = 0.2, 0.5

    class Net(nn.Module):
        def __init__(self, num_inputs, num_outputs, num_hiddens1, num_hiddens2,
                     is_training = True):
            super(Net, self).__init__()
            self.num_inputs = num_inputs
            self.training = is_training
            self.lin1 = nn.Linear(num_inputs, num_hiddens1)
            self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
            self.lin3 = nn.Linear(num_hiddens2, num_outputs)
            self.relu = nn.ReLU()

        def forward(self, X):
            H1 = self.relu(self.lin1(X.reshape((-1, self.num_inputs))))
            # Use dropout only when training the model
            if self.training == True:
                # Add a dropout layer after the first fully connected layer
                H1 = dropout_layer(H1, dropout1)
            H2 = self.relu(self.lin2(H1))
            if self.training == True:
                # Add a dropout layer after the second fully connected layer
                H2 = dropout_layer(H2, dropout2)
            out = self.lin3(H2)
            return out

    net = Net(num_inputs, num_outputs, num_hiddens1, num_hiddens2)

    num_epochs, lr, batch_size = 2, 0.5, 256
    loss = nn.CrossEntropyLoss(reduction='none')
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    scratch = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)

    net = nn.Sequential(nn.Flatten(),
            nn.Linear(784, 256),
            nn.ReLU(),
            # Add a dropout layer after the first fully connected layer
            nn.Dropout(dropout1),
            nn.Linear(256, 256),
            nn.ReLU(),
            # Add a dropout layer after the second fully connected layer
            nn.Dropout(dropout2),
            nn.Linear(256, 10))

    def init_weights(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, std=0.01)

    net.apply(init_weights)

    trainer = torch.optim.SGD(net.parameters(), lr=lr)
    concise = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)

    return {"p0": dropout_layer(X, 0.).tolist(), "p1": dropout_layer(X, 1.).tolist(),
            "p0.5_kept_or_doubled": kept_or_doubled, "epochs": [len(scratch), len(concise)],
            "losses_finite": all(0 < h[0] < 100 for h in scratch + concise)}
