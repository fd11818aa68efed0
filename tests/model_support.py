"""(model, data, features) combinations that cannot train, with the reason; '*' matches any.

Medley-solos-DB and its rendered look-alike (data=solos) carry instrument labels only: the
supervised pitch / transcription models need salience or piano-roll targets. The autoencoders
(unet, convnet2d, convnet1d) reconstruct their input and train on every dataset. The harmonic
salience model (unsupervised) trains on every dataset too, but only on a log-frequency grid with a
constant number of bins per octave: features=cqt or logfreq.
"""

PITCH_MODELS = ("cnn", "cqt_transformer", "mlp", "tcn", "transcriber", "transformer")
LABEL_ONLY_DATA = ("medley", "solos")

INCOMPATIBLE: dict[tuple[str, str, str], str] = {
    (model, data, "*"): f"no pitch targets in data={data}; it serves the autoencoder/probe track"
    for model in PITCH_MODELS for data in LABEL_ONLY_DATA
}
INCOMPATIBLE.update({
    ("harmonic", "*", features): f"harmonic kernels need a log-frequency grid with constant bins per "
    f"octave; features={features} has none (cqt and logfreq do)"
    for features in ("mel", "hcqt", "encodec")
})
