# ruff: noqa: F821  (the names come from the notebook's earlier cells)
(x_train_all, y_train_all), (x_test_all, y_test_all) = load_fashion_mnist()


def prepare(images):
    return (images / 255.0).reshape(-1, 784).astype("float32")


x_train = prepare(x_train_all[y_train_all != 1])
x_test_normal = prepare(x_test_all[y_test_all != 1])
x_test_anomaly = prepare(x_test_all[y_test_all == 1])
