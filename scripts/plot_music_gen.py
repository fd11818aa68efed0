"""Piano-rolls of a few pieces from the music-like MIDI generator (the figure of docs/study-transcription.md).

    python scripts/plot_music_gen.py [out.png] [seconds] [seed ...]

Dark bars are keys held, light bars the sound the sustain pedal adds (what the labels see),
grey bands the pedal down, dotted lines the chord changes. Defaults: docs/img/music_gen.png,
12 s, seeds 1 4 6 8 with the settings of conf/data/rendered.yaml's ``music:`` block.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from wavespace.data.midi import apply_sustain  # noqa: E402
from wavespace.data.music_gen import MusicParams, generate_piece  # noqa: E402

NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
CONF = Path(__file__).resolve().parents[1] / "conf" / "data" / "rendered.yaml"


def main(argv: list[str]) -> Path:
    out = Path(argv[0]) if argv else Path("docs/img/music_gen.png")
    seconds = float(argv[1]) if len(argv) > 1 else 12.0
    seeds = [int(s) for s in argv[2:]] or [1, 4, 6, 8]
    params = MusicParams.from_config(OmegaConf.to_container(OmegaConf.load(CONF).train.music))
    fig, axes = plt.subplots(len(seeds), 1, figsize=(9, 1.9 * len(seeds)), squeeze=False)
    for ax, seed in zip(axes[:, 0], seeds, strict=True):
        piece = generate_piece(np.random.default_rng([seed, 0, 0]), seconds, params)
        notes, ext = piece.notes, apply_sustain(piece.notes, piece.pedal)
        for down, up in piece.pedal:
            ax.axvspan(down, up, ymin=0, ymax=0.04, color="0.6", lw=0)
        for t in piece.chord_times:
            ax.axvline(t, color="0.75", lw=0.6, ls=":")
        rows = [[(on, off - on)] for on, off in zip(notes.offset, ext.offset, strict=True)]
        for r, p in zip(rows, notes.pitch, strict=True):
            ax.broken_barh(r, (p - 0.4, 0.8), color="#9ecae1", lw=0)
        for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True):
            ax.broken_barh([(on, off - on)], (p - 0.4, 0.8), color=plt.cm.Blues(0.45 + 0.55 * v / 127), lw=0)
        textures = ", ".join(dict.fromkeys(name for _, name in piece.textures))
        key = f"{NAMES[piece.key.tonic]} {piece.key.mode}"
        ax.set_title(f"seed {seed}: {key}, {piece.metre}, {piece.tempo_bpm:.0f} bpm; {textures}", fontsize=8)
        ax.set_xlim(0, seconds)
        ax.set_ylim(notes.pitch.min() - 4, notes.pitch.max() + 2)
        ax.set_ylabel("MIDI key", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("time (s)", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main(sys.argv[1:]))
