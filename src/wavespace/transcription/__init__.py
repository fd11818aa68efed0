"""Transcription: activations -> notes (decoding), mir_eval metrics, threshold tuning, chunked
inference over whole recordings and the per-piece evaluation loop; tracing a trained
transcriber to ONNX / TorchScript and running such an exported graph in its place.

Sits beside models and features, under the tasks: ``SupervisedSalience`` uses its metrics and
thresholds while training; the ``transcribe`` and ``evaluate`` entry points use the rest.
MIDI files are read and written by ``wavespace.data.midi`` (one reader, one writer).
"""
