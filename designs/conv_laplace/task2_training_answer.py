# ruff: noqa: F821  (the names come from the notebook's earlier cells)
history = vae.fit(x_train, epochs=EPOCHS, batch_size=128)
