"""Learn the Basics, "Quickstart": DataLoader, NeuralNetwork, train/test loops with CrossEntropyLoss and SGD,
torch.save / torch.load of the state_dict, and a prediction indexed into the class names.

Source: https://pytorch.org/tutorials/beginner/basics/quickstart_tutorial.html
(pytorch/tutorials, beginner_source/basics/quickstart_tutorial.py).
Changes: FashionMNIST (download) -> TensorDatasets of 320 / 96 seeded random images; ``numpy_weights`` after
building the model; 5 -> 2 epochs; "model.pth" lives in a temporary folder.
"""
import os
import tempfile

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    DataLoader = torch.utils.data.DataLoader

    x, y = images(320, seed=0)
    training_data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    x, y = images(96, seed=1)
    test_data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))

    batch_size = 64

    # Create data loaders.
    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)

    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        first_batch = [list(X.shape), list(y.shape), y.dtype == torch.int64]
        break

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    print(f"Using {device} device")

    # Define model
    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28*28, 512),
                nn.ReLU(),
                nn.Linear(512, 512),
                nn.ReLU(),
                nn.Linear(512, 10)
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    numpy_weights(torch, model)
    print(model)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def train(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)

            # Compute prediction error
            pred = model(X)
            loss = loss_fn(pred, y)

            # Backpropagation
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

            if batch % 100 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
        return loss.item()

    def test(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        return test_loss, correct

    epochs = 2
    history = []
    for t in range(epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        first_loss = train(train_dataloader, model, loss_fn, optimizer)
        history.append([first_loss, *test(test_dataloader, model, loss_fn)])
    print("Done!")

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.pth")
        torch.save(model.state_dict(), path)
        print("Saved PyTorch Model State to model.pth")

        model = NeuralNetwork().to(device)
        model.load_state_dict(torch.load(path, weights_only=True))

    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]

    model.eval()
    x, y = test_data[0][0], test_data[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model(x)
        predicted, actual = classes[pred[0].argmax(0)], classes[y]
        print(f'Predicted: "{predicted}", Actual: "{actual}"')

    return {"first_batch": first_batch, "history": history, "prediction": [predicted, actual],
            "logits": pred.tolist()}
