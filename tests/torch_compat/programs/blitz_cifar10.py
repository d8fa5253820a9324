"""60 Minute Blitz, "Training a Classifier": the CIFAR-10 Net, CrossEntropyLoss + SGD with momentum,
``torch.max(outputs, 1)``, accuracy and per-class accuracy (tensor labels indexing a tuple), save/load.

Source: https://pytorch.org/tutorials/beginner/blitz/cifar10_tutorial.html
(pytorch/tutorials, beginner_source/blitz/cifar10_tutorial.py).
Changes: CIFAR-10 (download) -> TensorDatasets of 100 / 200 seeded random 3x32x32 images, loaders without
shuffling (so both frameworks see the same order) and without worker processes; ``numpy_weights`` after
building the net; 2 -> 1 epoch; the loss is printed every 10 mini-batches instead of 2000.
"""
import os
import tempfile

from _common import images, numpy_weights


def main(torch):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim

    batch_size = 4

    x, y = images(100, shape=(3, 32, 32), seed=0)
    trainset = torch.utils.data.TensorDataset(torch.tensor(x * 2 - 1), torch.tensor(y))
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=False, num_workers=0)

    x, y = images(200, shape=(3, 32, 32), seed=1)
    testset = torch.utils.data.TensorDataset(torch.tensor(x * 2 - 1), torch.tensor(y))
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=0)

    classes = ('plane', 'car', 'bird', 'cat',
               'deer', 'dog', 'frog', 'horse', 'ship', 'truck')

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)  # flatten all dimensions except batch
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    net = Net()
    numpy_weights(torch, net)

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    printed = []
    for epoch in range(1):  # loop over the dataset multiple times

        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            if i % 10 == 9:    # print every 10 mini-batches
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 10:.3f}')
                printed.append(running_loss / 10)
                running_loss = 0.0

    print('Finished Training')

    with tempfile.TemporaryDirectory() as folder:
        PATH = os.path.join(folder, 'cifar_net.pth')
        torch.save(net.state_dict(), PATH)

        dataiter = iter(testloader)
        images_, labels = next(dataiter)
        print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))

        net = Net()
        net.load_state_dict(torch.load(PATH, weights_only=True))

    outputs = net(images_)
    _, predicted = torch.max(outputs, 1)
    print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}' for j in range(4)))

    correct = 0
    total = 0
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data in testloader:
            images_, labels = data
            # calculate outputs by running images through the network
            outputs = net(images_)
            # the class with the highest energy is what we choose as prediction
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print(f'Accuracy of the network on the 200 test images: {100 * correct // total} %')

    # prepare to count predictions for each class
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}

    # again no gradients needed
    with torch.no_grad():
        for data in testloader:
            images_, labels = data
            outputs = net(images_)
            _, predictions = torch.max(outputs, 1)
            # collect the correct predictions for each class
            for label, prediction in zip(labels, predictions):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1

    # print accuracy for each class
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / total_pred[classname]
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')

    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
    # Assuming that we are on a CUDA machine, this should print a CUDA device:
    print(device)
    net.to(device)

    return {"printed": printed, "correct": correct, "total": total, "correct_pred": list(correct_pred.values()),
            "total_pred": list(total_pred.values()), "last_outputs": outputs.tolist()}
