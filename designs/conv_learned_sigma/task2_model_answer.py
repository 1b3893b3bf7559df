# ruff: noqa: F821  (the names come from the notebook's earlier cells)
LATENT_DIM = 16


class Draw(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator(3)

    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(log_var / 2) * keras.random.normal(ops.shape(mean),
                                                                 seed=self.generator)


inputs = keras.Input((28, 28, 1))
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Dense(128, activation="relu")(layers.Flatten()(h))
mean, log_var = layers.Dense(LATENT_DIM)(h), layers.Dense(LATENT_DIM)(h)
encoder = keras.Model(inputs, [mean, log_var, Draw()([mean, log_var])], name="conv_encoder")

codes = keras.Input((LATENT_DIM,))
h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(codes))
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
out = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(h)
decoder = keras.Model(codes, out, name="conv_decoder")


class ConvVAE(keras.Model):
    """Gaussian likelihood with one learned log-sigma; calling it gives -ELBO per image."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.log_sigma = self.add_weight(shape=(), initializer="zeros", name="log_sigma")

    def call(self, x):
        mean, log_var, z = self.encoder(x)
        error = ops.sum(ops.square(x - self.decoder(z)), axis=(1, 2, 3))
        nll = 0.5 * error * ops.exp(-2 * self.log_sigma) + 784 * (
            self.log_sigma + 0.5 * float(np.log(2 * np.pi)))
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)
        return nll + kl

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(y_pred)


vae = ConvVAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))


def negative_elbo(x):
    return vae.predict(x, batch_size=1000, verbose=0)


encoder.summary()
decoder.summary()
