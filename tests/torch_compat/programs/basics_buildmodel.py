"""Learn the Basics, "Build the Neural Network": NeuralNetwork (Flatten + Linear/ReLU stack), Softmax,
layer-by-layer walk and named_parameters.

Source: https://pytorch.org/tutorials/beginner/basics/buildmodel_tutorial.html
(pytorch/tutorials, beginner_source/basics/buildmodel_tutorial.py).
Changes: the ``torch.rand`` images are seeded NumPy arrays; ``numpy_weights`` after building each model.
"""
import numpy as np

from _common import numpy_weights


def main(torch):
    nn = torch.nn
    gen = np.random.default_rng(0)

    device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
    print(f"Using {device} device")

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28*28, 512),
                nn.ReLU(),
                nn.Linear(512, 512),
                nn.ReLU(),
                nn.Linear(512, 10),
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    numpy_weights(torch, model)
    print(model)

    X = torch.tensor(gen.random((1, 28, 28), dtype=np.float32), device=device)
    logits = model(X)
    pred_probab = nn.Softmax(dim=1)(logits)
    y_pred = pred_probab.argmax(1)
    print(f"Predicted class: {y_pred}")

    input_image = torch.tensor(gen.random((3, 28, 28), dtype=np.float32))
    print(input_image.size())

    flatten = nn.Flatten()
    flat_image = flatten(input_image)
    print(flat_image.size())

    layer1 = nn.Linear(in_features=28*28, out_features=20)
    numpy_weights(torch, layer1)
    hidden1 = layer1(flat_image)
    print(hidden1.size())

    print(f"Before ReLU: {hidden1}\n\n")
    hidden1 = nn.ReLU()(hidden1)
    print(f"After ReLU: {hidden1}")

    seq_modules = nn.Sequential(
        flatten,
        layer1,
        nn.ReLU(),
        nn.Linear(20, 10)
    )
    numpy_weights(torch, seq_modules[3])
    logits2 = seq_modules(input_image)

    softmax = nn.Softmax(dim=1)
    pred_probab2 = softmax(logits2)

    print(f"Model structure: {model}\n\n")

    layers = []
    for name, param in model.named_parameters():
        print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2]} \n")
        layers.append([name, list(param.size())])

    return {"pred_probab": pred_probab.tolist(), "y_pred": y_pred.tolist(),
            "sizes": [list(input_image.size()), list(flat_image.size()), list(hidden1.size())],
            "hidden1": hidden1.tolist(), "pred_probab2": pred_probab2.tolist(), "layers": layers}
