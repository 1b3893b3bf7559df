# ruff: noqa: F821  (the names come from the notebook's earlier cells)
import tensorflow as tf

LATENT_DIM = 8


class Draw(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(7)

    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(log_var / 2) * keras.random.normal(ops.shape(mean),
                                                                 seed=self.generator)


inputs = keras.Input((784,))
h = layers.Dense(512, activation="relu")(inputs)
h = layers.Dense(256, activation="relu")(h)
mean, log_var = layers.Dense(LATENT_DIM)(h), layers.Dense(LATENT_DIM)(h)
encoder = keras.Model(inputs, [mean, log_var, Draw()([mean, log_var])], name="dense_encoder")

codes = keras.Input((LATENT_DIM,))
h = layers.Dense(256, activation="relu")(codes)
h = layers.Dense(512, activation="relu")(h)
decoder = keras.Model(codes, layers.Dense(784, activation="sigmoid")(h), name="dense_decoder")


class GaussianVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma")
        self.total_loss = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss]

    def per_image(self, x):
        mean, log_var, z = self.encoder(x)
        error = ops.sum(ops.square(x - self.decoder(z)), axis=1)
        nll = 0.5 * error * ops.exp(-2 * self.log_sigma) + 784 * (
            self.log_sigma + 0.5 * float(np.log(2 * np.pi)))
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)
        return nll + kl

    def train_step(self, x):
        with tf.GradientTape() as tape:
            loss = ops.mean(self.per_image(x))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss.update_state(loss)
        return {"total_loss": self.total_loss.result()}


vae = GaussianVAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))


def negative_elbo(x):
    return np.concatenate([ops.convert_to_numpy(vae.per_image(x[i:i + 1000]))
                           for i in range(0, len(x), 1000)])


encoder.summary()
decoder.summary()
