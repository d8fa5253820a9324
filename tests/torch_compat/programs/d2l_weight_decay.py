# ruff: noqa: E741 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 4.5 "Weight Decay" (PyTorch): an L2 penalty by hand with the scratch ``sgd``, and
optim.SGD with per-parameter-group ``weight_decay`` (``[{"params": net[0].weight, 'weight_decay': wd},
{"params": net[0].bias}]``), ``param.data.normal_()``, ``torch.norm``.

Source: https://d2l.ai/chapter_multilayer-perceptrons/weight-decay.html
(d2l-ai/d2l-en v0.17.6, chapter_multilayer-perceptrons/weight-decay.md, the pytorch tab).
Changes: the training loader does not shuffle (``is_train=False``: both frameworks see the same order);
``numpy_params`` after each random initialisation; 100 -> 20 epochs; the Animator is left out (its
evaluate_loss numbers are returned).
"""
from _d2l import d2l_for, numpy_params


def main(torch):
    d2l = d2l_for(torch)
    nn = torch.nn

    n_train, n_test, num_inputs, batch_size = 20, 100, 200, 5
    true_w, true_b = d2l.ones((num_inputs, 1)) * 0.01, 0.05
    train_data = d2l.synthetic_data(true_w, true_b, n_train)
    train_iter = d2l.load_array(train_data, batch_size, is_train=False)
    test_data = d2l.synthetic_data(true_w, true_b, n_test)
    test_iter = d2l.load_array(test_data, batch_size, is_train=False)

    def init_params():
        w = torch.normal(0, 1, size=(num_inputs, 1), requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        numpy_params(torch, [w], scale=1.0)
        return [w, b]

    def l2_penalty(w):
        return torch.sum(w.pow(2)) / 2

    def train(lambd):
        w, b = init_params()
        net, loss = lambda X: d2l.linreg(X, w, b), d2l.squared_loss
        num_epochs, lr = 20, 0.003
        curve = []
        for epoch in range(num_epochs):
            for X, y in train_iter:
                # The L2 norm penalty term has been added, and broadcasting
                # makes `l2_penalty(w)` a vector whose length is `batch_size`
                l = loss(net(X), y) + lambd * l2_penalty(w)
                l.sum().backward()
                d2l.sgd([w, b], lr, batch_size)
            if (epoch + 1) % 5 == 0:
                curve.append((d2l.evaluate_loss(net, train_iter, loss),
                              d2l.evaluate_loss(net, test_iter, loss)))
        print('L2 norm of w:', torch.norm(w).item())
        return [torch.norm(w).item(), curve]

    results = {"scratch_0": train(lambd=0), "scratch_3": train(lambd=3)}

    def train_concise(wd):
        net = nn.Sequential(nn.Linear(num_inputs, 1))
        for param in net.parameters():
            param.data.normal_()
        numpy_params(torch, net.parameters(), scale=1.0)
        loss = nn.MSELoss(reduction='none')
        num_epochs, lr = 20, 0.003
        # The bias parameter has not decayed
        trainer = torch.optim.SGD([
            {"params":net[0].weight,'weight_decay': wd},
            {"params":net[0].bias}], lr=lr)
        curve = []
        for epoch in range(num_epochs):
            for X, y in train_iter:
                trainer.zero_grad()
                l = loss(net(X), y)
                l.mean().backward()
                trainer.step()
            if (epoch + 1) % 5 == 0:
                curve.append((d2l.evaluate_loss(net, train_iter, loss),
                              d2l.evaluate_loss(net, test_iter, loss)))
        print('L2 norm of w:', net[0].weight.norm().item())
        return [net[0].weight.norm().item(), curve]

    results["concise_0"] = train_concise(0)
    results["concise_3"] = train_concise(3)
    return results
