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


class LaplaceVAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.log_scale = self.add_weight(shape=(), initializer="zeros", name="log_scale")
        self.total_loss = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss]

    def per_image(self, x):
        mean, log_var, z = self.encoder(x)
        error = ops.sum(ops.abs(x - self.decoder(z)), axis=(1, 2, 3))
        nll = error * ops.exp(-self.log_scale) + 784 * (self.log_scale + float(np.log(2)))
        kl = -0.5 * ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)
        return nll + kl

    def train_step(self, x):
        with tf.GradientTape() as tape:
            loss = ops.mean(self.per_image(x))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.total_loss.update_state(loss)
        return {"total_loss": self.total_loss.result()}


vae = LaplaceVAE(encoder, decoder)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))


def negative_elbo(x):
    return np.concatenate([ops.convert_to_numpy(vae.per_image(x[i:i + 1000]))
                           for i in range(0, len(x), 1000)])


encoder.summary()
decoder.summary()
