# ruff: noqa: E741 -- the code is kept as its source wrote it
"""Dive into Deep Learning, 3.3 "Concise Implementation of Linear Regression" (PyTorch): TensorDataset +
DataLoader(shuffle=True), ``net[0].weight.data.normal_(0, 0.01)``, ``bias.data.fill_(0)``, MSELoss, optim.SGD.

Source: https://d2l.ai/chapter_linear-networks/linear-regression-concise.html
(d2l-ai/d2l-en v0.17.6, chapter_linear-networks/linear-regression-concise.md, the pytorch tab).
Changes: none in the program. Its loader shuffles with each framework's own generator, so the two runs see
the examples in different orders: the numbers compared are those of the converged fit, whose run-to-run
spread is the noise level of the data (TOLERANCE below), and the first batch's shapes.
"""
from _d2l import d2l_for

# Converged values: the squared error is ~5e-5 (noise sd 0.01) and the estimates are within ~1e-3 of the truth
# whatever the order of the examples; an error in the framework moves them by far more.
TOLERANCE = {"losses": (0.0, 5e-5), "w_error": (0.0, 2e-3), "b_error": (0.0, 2e-3)}


def main(torch):
    d2l = d2l_for(torch)
    data = torch.utils.data

    true_w = d2l.tensor([2, -3.4])
    true_b = 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, 1000)

    def load_array(data_arrays, batch_size, is_train=True):  #@save
        """Construct a PyTorch data iterator."""
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    batch_size = 10
    data_iter = load_array((features, labels), batch_size)

    first = next(iter(data_iter))

    # `nn` is an abbreviation for neural networks
    nn = torch.nn
    net = nn.Sequential(nn.Linear(2, 1))

    net[0].weight.data.normal_(0, 0.01)
    net[0].bias.data.fill_(0)

    loss = nn.MSELoss()

    trainer = torch.optim.SGD(net.parameters(), lr=0.03)

    num_epochs = 3
    losses = []
    for epoch in range(num_epochs):
        for X, y in data_iter:
            l = loss(net(X) ,y)
            trainer.zero_grad()
            l.backward()
            trainer.step()
        l = loss(net(features), labels)
        print(f'epoch {epoch + 1}, loss {l:f}')
        losses.append(l.item())

    w = net[0].weight.data
    print('error in estimating w:', true_w - d2l.reshape(w, true_w.shape))
    b = net[0].bias.data
    print('error in estimating b:', true_b - b)
    return {"first_batch": [list(first[0].shape), list(first[1].shape)], "losses": losses[-1:],
            "w_error": (true_w - d2l.reshape(w, true_w.shape)).tolist(), "b_error": (true_b - b).tolist()}
