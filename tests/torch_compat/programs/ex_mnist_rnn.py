"""pytorch/examples "Example of MNIST using RNN": an LSTM over image rows (batch_first), the last step through
BatchNorm1d, Dropout2d, two Linear layers and log_softmax; Adadelta + StepLR.

Source: https://github.com/pytorch/examples/blob/main/mnist_rnn/main.py
Changes: MNIST (download) -> 64 / 64 seeded random images; ``args`` a Namespace with small sizes (batch 32,
2 epochs); ``numpy_weights`` after building the model. Dropout draws differ between frameworks, so training
is compared through the evaluation-mode numbers that do not depend on them (initial test loss, learning
rates) and through "the final test loss is finite".
"""
import argparse
import math

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    StepLR = torch.optim.lr_scheduler.StepLR

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(64)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, input):
            # Shape of input is (batch_size,1, 28, 28)
            # converting shape of input to (batch_size, 28, 28)
            # as required by RNN when batch_first is set True
            input = input.reshape(-1, 28, 28)
            output, hidden = self.rnn(input)

            # RNN output shape is (seq_len, batch, input_size)
            # Get last output of RNN
            output = output[:, -1, :]
            output = self.batchnorm(output)
            output = self.dropout1(output)
            output = self.fc1(output)
            output = F.relu(output)
            output = self.dropout2(output)
            output = self.fc2(output)
            output = F.log_softmax(output, dim=1)
            return output

    def train(args, model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader), loss.item()))
                if args.dry_run:
                    break

    def test(args, model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()

        test_loss /= len(test_loader.dataset)

        print('\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
            test_loss, correct, len(test_loader.dataset),
            100. * correct / len(test_loader.dataset)))
        return test_loss, correct

    args = argparse.Namespace(batch_size=32, test_batch_size=64, epochs=2, lr=0.1, gamma=0.7, accel=False,
                              dry_run=False, seed=1, log_interval=1, save_model=False)

    torch.manual_seed(args.seed)
    device = torch.device("cpu")

    x, y = images(64, seed=0)
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor((x - 0.1307) / 0.3081), torch.tensor(y)),
        batch_size=args.batch_size, shuffle=False)
    x, y = images(64, seed=1)
    test_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor((x - 0.1307) / 0.3081), torch.tensor(y)),
        batch_size=args.test_batch_size, shuffle=False)

    model = Net().to(device)
    numpy_weights(torch, model)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    initial = test(args, model, device, test_loader)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    lrs = []
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        final = test(args, model, device, test_loader)
        scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])

    return {"initial_test": list(initial), "lrs": lrs, "final_test_loss_finite": math.isfinite(final[0])}
