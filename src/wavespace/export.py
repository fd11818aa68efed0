"""A trained transcriber as one file: ``python -m wavespace.export ckpt=PATH format=onnx|torchscript``.

Writes the graph (``output=``, default beside the checkpoint: ``<stem>.onnx`` or ``<stem>.pt``)
and a JSON sidecar named like it plus ``.json`` with what using it takes: sample rate, hop and
frame rate, the input's name and shape, each output head in graph order with the pitch of its
rows, the decision thresholds tuned at training time, whether the front-end is in the graph,
and provenance (wavespace and torch versions, the checkpoint and its digest, the run config).
``python -m wavespace.transcribe ckpt=FILE`` runs it with the same chunking, decoding and MIDI
writing as the checkpoint.

The front-end goes into the graph when it traces with a free length and the graph agrees with
PyTorch (CQT, HCQT); otherwise (``frontend=auto``) the graph starts at the raw features and the
front-end stays in Python, its state dict saved as ``<file>.frontend.pt`` (mel, log-STFT,
EnCodec; see :mod:`wavespace.transcription.exporting`). Every graph is checked against PyTorch
at two input lengths and batch sizes other than the traced ones, to ``atol`` in probability,
before it is kept; the measured differences are in the sidecar.

All files are written under temporary names and renamed once everything succeeded: a failed
export leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from wavespace.config import config_dir
from wavespace.errors import reported_errors

FRONTEND_MODES = ("auto", "include", "exclude")
HEAD_MEANING = {
    "frame": "probability that the key sounds",
    "onset": "probability that a note of the key starts",
    "offset": "probability that a note of the key ends",
    "velocity": "velocity / 127 of the note sounding on the key (meaningful where frame is on)",
    "salience": "pitch salience on the log-frequency bin grid",
}


def _outputs(task: Any, geometry: dict[str, Any]) -> list[dict[str, Any]]:
    """Each head in the net's order, with the pitch its rows stand for."""
    from wavespace.labels import hz_to_midi
    from wavespace.transcription.exporting import probe_signal

    probs = task.predict_audio(probe_signal(int(task.features.sample_rate), 0.5, 1))
    out = []
    for name, value in probs.items():
        rows = int(value.shape[1])
        entry: dict[str, Any] = {"name": name, "shape": ["batch", rows, "frames"],
                                 "meaning": HEAD_MEANING.get(name, "probability")}
        if rows == geometry.get("n_keys") and name != "salience":
            entry.update(rows="MIDI keys", midi_of_row_0=int(geometry["min_midi"]), semitones_per_row=1)
        elif rows == geometry.get("n_bins") and "fmin" in geometry:
            entry.update(rows="log-frequency bins", fmin_hz=float(geometry["fmin"]),
                         bins_per_octave=int(geometry["bins_per_octave"]),
                         midi_of_row_0=round(float(hz_to_midi(float(geometry["fmin"]))), 4),
                         semitones_per_row=12 / int(geometry["bins_per_octave"]))
        out.append(entry)
    return out


def _provenance(ckpt_path: Path) -> dict[str, Any]:
    import torch

    from wavespace import __version__
    from wavespace.files import digest_bytes
    from wavespace.provenance import provenance

    stored = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True).get("wavespace", {})
    return {"exported_by": {"wavespace": __version__, **provenance(), "torch": torch.__version__,
                            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")},
            "checkpoint": {"path": str(ckpt_path.resolve()), "sha1": digest_bytes(ckpt_path.read_bytes(), 40),
                           "run_id": stored.get("run_id"), "trained_with": {"wavespace": stored.get("version"),
                                                                             **(stored.get("provenance") or {})}}}


def describe(task: Any, fmt: str, included: bool, outputs: list[dict[str, Any]], ckpt_path: Path) -> dict[str, Any]:
    """The sidecar: everything needed to use the graph without the checkpoint."""
    from wavespace.files import jsonable
    from wavespace.transcription.exported import SIDECAR_VERSION
    from wavespace.transcription.exporting import OPSET

    feats = task.features
    run_config = jsonable(task.run_config or {})
    sr, hop = int(feats.sample_rate), int(feats.hop_length)
    if included:
        inp = {"name": "audio", "shape": ["batch", "samples"], "dtype": "float32",
               "what": f"mono waveform in [-1, 1] at {sr} Hz"}
    else:
        inp = {"name": "features", "shape": ["batch", int(feats.n_channels), int(feats.n_bins), "frames"],
               "dtype": "float32", "what": "raw front-end output before normalization (frontend.config)"}
    decoding = task.decode_params()
    return {
        "sidecar_version": SIDECAR_VERSION, "format": fmt,
        "exporter": ("torch.onnx.export, TorchScript-based (dynamo=False), opset " + str(OPSET)
                     if fmt == "onnx" else "torch.jit.trace"),
        "sample_rate": sr, "hop_length": hop, "frame_rate": sr / hop,
        "frames": "n_samples // hop_length + 1; frame i is centered at i * hop_length / sample_rate s",
        "input": inp, "outputs": outputs,
        "frontend": {"included": included, "type": type(feats).__name__, "config": run_config.get("features"),
                     **({} if included else {"state": "<file>.frontend.pt"})},
        "decoding": decoding.as_dict(),
        "thresholds": {"frame": decoding.frame_threshold, "onset": decoding.onset_threshold,
                       "source": "tuned on the validation split at training time (stored in the checkpoint)"},
        "check": None,  # filled in by the comparison with PyTorch
        **_provenance(ckpt_path), "run_config": run_config,
    }


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The gist of an exporter's error (the TorchScript exporter appends whole graph dumps)."""
    text = (str(exc).strip().splitlines() or [""])[0].split("  [Caused by")[0]
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.ckpt`` to ``cfg.output`` in ``cfg.format``; return a summary."""
    import torch

    from wavespace.files import atomic_path, write_text
    from wavespace.loading import load_transcriber, locate
    from wavespace.transcription.exported import (
        FORMATS,
        ExportedTranscriber,
        frontend_state_path,
        sidecar_path,
    )
    from wavespace.transcription.exporting import ExportError, build_graph, check_graph, write_graph

    fmt, mode = str(cfg.get("format")), str(cfg.get("frontend", "auto"))
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format '{fmt}'. Choose format=onnx (a .onnx file for ONNX "
                          f"Runtime and other ONNX tools) or format=torchscript (a .pt file for "
                          f"torch.jit.load, no wavespace model code needed).")
    if mode not in FRONTEND_MODES:
        raise ExportError(f"Unknown frontend={mode}: choose auto (in the graph when it exports), "
                          f"include or exclude.")
    task = load_transcriber(cfg.get("ckpt"), "cpu")
    if isinstance(task, ExportedTranscriber):
        raise ExportError(f"{cfg.ckpt} is already an exported model; export from the .ckpt file or "
                          f"the run directory it came from.")
    ckpt_path = locate(cfg.ckpt)
    shipped = not Path(str(cfg.ckpt)).expanduser().exists()  # a name (piano-cpu): not beside the package's file
    default = Path(f"{cfg.ckpt}{FORMATS[fmt]}") if shipped else ckpt_path.with_suffix(FORMATS[fmt])
    output = Path(cfg.get("output") or default).expanduser()
    outputs = _outputs(task, dict((task.run_config or {}).get("geometry") or {}))
    names = [o["name"] for o in outputs]
    atol, failures, made_dir = float(cfg.get("atol", 1e-4)), [], not output.parent.exists()
    try:
        with atomic_path(output) as tmp:
            for included in {"auto": (True, False), "include": (True,), "exclude": (False,)}[mode]:
                try:
                    graph, example, input_name = build_graph(task, included, names)
                    write_graph(graph, example, input_name, names, fmt, tmp)
                    meta = describe(task, fmt, included, outputs, ckpt_path)
                    exported = ExportedTranscriber(tmp, "cpu", meta=meta, frontend=None if included else task.features)
                    meta["check"] = check_graph(exported, task, atol)
                    break
                except Exception as exc:  # the exporters raise many kinds; each is reported
                    where = "with the front-end in the graph" if included else "on features"
                    failures.append(f"{where}: {_first_line(exc)}")
            else:
                raise ExportError(
                    f"Could not export {ckpt_path} to {fmt} ({type(task.features).__name__} front-end, "
                    f"frontend={mode}): " + "; ".join(failures) + ". Nothing was written. frontend=auto "
                    "falls back to a graph on features when the front-end does not export, and "
                    "format=torchscript traces some front-ends ONNX cannot (torch.stft).")
            state = frontend_state_path(output)
            if included:
                state.unlink(missing_ok=True)  # a stale one from an earlier export on features
            else:
                with atomic_path(state) as tmp_state:
                    torch.save(task.features.state_dict(), tmp_state)
            # In the order above (what to feed, what comes out, how to decide, where from).
            write_text(sidecar_path(output), json.dumps(meta, indent=2, default=str))
    except BaseException:
        if made_dir and output.parent.is_dir() and not any(output.parent.iterdir()):
            output.parent.rmdir()
        raise
    return {"output": str(output), "sidecar": str(sidecar_path(output)), "format": fmt,
            "frontend_included": included, "frontend": type(task.features).__name__,
            "check": meta["check"], "fallback": failures}


def format_report(summary: dict[str, Any]) -> str:
    check = summary["check"]
    worst = max(check["max_abs_diff"].values())
    where = "included" if summary["frontend_included"] else "kept in Python (graph takes raw features)"
    lines = [f"wrote {summary['output']} ({summary['format']}; {summary['frontend']} front-end {where})",
             f"  sidecar {summary['sidecar']}",
             f"  checked against PyTorch at {len(check['inputs'])} input sizes (batch x samples "
             f"{', '.join('x'.join(map(str, s)) for s in check['inputs'])}): largest difference "
             f"{worst:.1e} <= atol {check['atol']:g}"]
    lines += [f"  tried {reason}" for reason in summary["fallback"]]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="export")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        summary = run(cfg)
    print(format_report(summary))


if __name__ == "__main__":
    main()
