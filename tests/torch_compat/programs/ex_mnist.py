"""pytorch/examples "Basic MNIST Example": Net (conv-conv-maxpool-dropout-fc-dropout-fc, log_softmax),
train/test loops with nll_loss, ``pred.eq(target.view_as(pred))``, Adadelta and StepLR.

Source: https://github.com/pytorch/examples/blob/main/mnist/main.py
Changes: MNIST (download) -> 32 / 32 seeded random images; the command-line ``args`` are a Namespace with
smaller sizes (batch 16, 2 epochs); ``numpy_weights`` after building the model. Dropout draws differ between
frameworks, so the trained weights are compared only through the evaluation-mode numbers that do not depend
on the draws (initial test loss, learning rates) and through "the final test loss is finite".
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
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
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

    def test(model, device, test_loader):
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

    args = argparse.Namespace(batch_size=16, test_batch_size=32, epochs=2, lr=1.0, gamma=0.7, no_accel=False,
                              dry_run=False, seed=1, log_interval=1, save_model=False)

    use_accel = not args.no_accel and torch.accelerator.is_available()

    torch.manual_seed(args.seed)

    if use_accel:
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")

    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}
    if use_accel:
        accel_kwargs = {'num_workers': 1,
                        'persistent_workers': True,
                        'pin_memory': True,
                        'shuffle': True}
        train_kwargs.update(accel_kwargs)
        test_kwargs.update(accel_kwargs)

    x, y = images(32, seed=0)
    dataset1 = torch.utils.data.TensorDataset(torch.tensor((x - 0.1307) / 0.3081), torch.tensor(y))
    x, y = images(32, seed=1)
    dataset2 = torch.utils.data.TensorDataset(torch.tensor((x - 0.1307) / 0.3081), torch.tensor(y))
    train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
    test_loader = torch.utils.data.DataLoader(dataset2, **test_kwargs)

    model = Net().to(device)
    numpy_weights(torch, model)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    initial = test(model, device, test_loader)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    lrs = []
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        final = test(model, device, test_loader)
        scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])

    if args.save_model:
        torch.save(model.state_dict(), "mnist_cnn.pt")

    return {"initial_test": list(initial), "lrs": lrs, "final_test_loss_finite": math.isfinite(final[0])}
