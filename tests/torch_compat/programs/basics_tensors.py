"""Learn the Basics, "Tensors": creating tensors, attributes, indexing, cat, matmul/mul with ``out=``,
in-place ops and the NumPy bridge.

Source: https://pytorch.org/tutorials/beginner/basics/tensorqs_tutorial.html
(pytorch/tutorials, beginner_source/basics/tensorqs_tutorial.py).
Changes: none besides returning what the tutorial prints (random values only by shape and range).
"""
import numpy as np


def main(torch):
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)

    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)

    x_ones = torch.ones_like(x_data)  # retains the properties of x_data
    print(f"Ones Tensor: \n {x_ones} \n")

    x_rand = torch.rand_like(x_data, dtype=torch.float)  # overrides the datatype of x_data
    print(f"Random Tensor: \n {x_rand} \n")

    shape = (2, 3,)
    rand_tensor = torch.rand(shape)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)

    print(f"Random Tensor: \n {rand_tensor} \n")
    print(f"Ones Tensor: \n {ones_tensor} \n")
    print(f"Zeros Tensor: \n {zeros_tensor}")

    tensor = torch.rand(3, 4)

    print(f"Shape of tensor: {tensor.shape}")
    print(f"Datatype of tensor: {tensor.dtype}")
    print(f"Device tensor is stored on: {tensor.device}")
    attributes = [tuple(tensor.shape), tensor.dtype == torch.float32, str(tensor.device)]

    # We move our tensor to the current accelerator if available
    if torch.accelerator.is_available():
        tensor = tensor.to(torch.accelerator.current_accelerator())

    tensor = torch.ones(4, 4)
    print(f"First row: {tensor[0]}")
    print(f"First column: {tensor[:, 0]}")
    print(f"Last column: {tensor[..., -1]}")
    tensor[:, 1] = 0
    print(tensor)

    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    print(t1)

    # This computes the matrix multiplication between two tensors. y1, y2, y3 will have the same value
    # ``tensor.T`` returns the transpose of a tensor
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)

    y3 = torch.rand_like(y1)
    torch.matmul(tensor, tensor.T, out=y3)

    # This computes the element-wise product. z1, z2, z3 will have the same value
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)

    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)

    agg = tensor.sum()
    agg_item = agg.item()
    print(agg_item, type(agg_item))

    print(f"{tensor} \n")
    tensor.add_(5)
    print(tensor)

    t = torch.ones(5)
    print(f"t: {t}")
    n = t.numpy()
    print(f"n: {n}")

    t.add_(1)
    print(f"t: {t}")
    print(f"n: {n}")
    n_after_add = n.tolist()

    n = np.ones(5)
    t = torch.from_numpy(n)

    np.add(n, 1, out=n)
    print(f"t: {t}")
    print(f"n: {n}")

    return {"x_data": x_data.tolist(), "x_np": x_np.tolist(), "x_ones": x_ones.tolist(),
            "x_rand": [tuple(x_rand.shape), x_rand.dtype == torch.float,
                       all(0 <= v < 1 for v in sum(x_rand.tolist(), []))],
            "zeros_ones": [zeros_tensor.tolist(), ones_tensor.tolist(), tuple(rand_tensor.shape)],
            "attributes": attributes, "t1": t1.tolist(), "y": [y1.tolist(), y2.tolist(), y3.tolist()],
            "z": [z1.tolist(), z2.tolist(), z3.tolist()], "agg": [agg_item, type(agg_item).__name__],
            "after_add_": tensor.tolist(), "bridge_t_to_n": n_after_add, "bridge_n_to_t": t.tolist()}
