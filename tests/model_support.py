"""(model, data, features) combinations that cannot train, with the reason; '*' matches any.

Medley-solos-DB carries instrument labels only: every model today is a supervised pitch /
transcription model that needs salience or piano-roll targets.
"""

INCOMPATIBLE: dict[tuple[str, str, str], str] = {
    ("*", "medley", "*"): "no pitch targets; Medley-solos-DB is for the autoencoder/probe track",
}
