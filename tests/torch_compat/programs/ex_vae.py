"""pytorch/examples "Basic VAE Example": encoder/decoder of Linear layers, the reparameterization trick with
``torch.randn_like``, binary_cross_entropy(reduction='sum') + KL divergence, Adam.

Source: https://github.com/pytorch/examples/blob/main/vae/main.py
Changes: MNIST (download) -> 128 / 64 seeded random images in a TensorDataset (no shuffling); small ``args``;
``numpy_weights`` after building the model; ``save_image`` calls dropped. The noise of
``reparameterize`` differs between frameworks, so the numbers compared are those that do not depend on it:
the decoder and the loss on fixed inputs before training, and "the test loss went down".
"""
import argparse

import numpy as np

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim

    args = argparse.Namespace(batch_size=32, epochs=2, no_accel=False, seed=1, log_interval=2)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")

    x, y = images(128, seed=0)
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=args.batch_size, shuffle=False)
    x, y = images(64, seed=1)
    test_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=args.batch_size, shuffle=False)

    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()

            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5*logvar)
            eps = torch.randn_like(std)
            return mu + eps*std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    model = VAE().to(device)
    numpy_weights(torch, model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    # Reconstruction + KL divergence losses summed over all elements and batch
    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')

        # see Appendix B from VAE paper:
        # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
        # https://arxiv.org/abs/1312.6114
        # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

        return BCE + KLD

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader),
                    loss.item() / len(data)))

        print('====> Epoch: {} Average loss: {:.4f}'.format(
              epoch, train_loss / len(train_loader.dataset)))

    def test(epoch):
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n],
                                            recon_batch.view(args.batch_size, 1, 28, 28)[:n]])

        test_loss /= len(test_loader.dataset)
        print('====> Test set loss: {:.4f}'.format(test_loss))
        return test_loss, list(comparison.shape)

    gen = np.random.default_rng(3)
    with torch.no_grad():
        z = torch.tensor(gen.standard_normal((4, 20), dtype=np.float32))
        decoded = model.decode(z)
        data = next(iter(test_loader))[0]
        mu, logvar = model.encode(data.view(-1, 784))
        fixed_loss = loss_function(model.decode(mu), data, mu, logvar).item()

    initial = test(0)
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        final = test(epoch)
        with torch.no_grad():
            sample = torch.randn(64, 20).to(device)
            sample = model.decode(sample).cpu()

    return {"decoded": decoded[:, :16].tolist(), "fixed_loss": fixed_loss, "comparison_shape": final[1],
            "sample_shape": list(sample.view(64, 1, 28, 28).shape), "test_loss_went_down": final[0] < initial[0]}
