"""Note ends from the offset head: known answers on hand-built activations, the tuned offset
threshold, the old rule for models without an offset head, and a trained model that has one."""

from __future__ import annotations

import numpy as np
import pytest

from wavespace.transcription.decoding import DecodeParams, decode_notes
from wavespace.transcription.thresholds import (
    OFFSETS_OFF,
    THRESHOLD_GRID,
    reference_notes,
    tune_thresholds,
)

FR = 22050 / 256
KEYS, FRAMES = 8, 120
KEY = 3


def _sustained(offset_peaks: dict[int, float] | None = None, frame_end: int = 80) -> dict[str, np.ndarray]:
    """Key KEY struck at frame 10 (onset peak 0.9) whose frame activation stays at 0.9 until
    ``frame_end`` (a pedal or a confident net), with offset probabilities peaking where given."""
    frame = np.zeros((KEYS, FRAMES), np.float32)
    onset = np.zeros_like(frame)
    offset = np.zeros_like(frame)
    frame[KEY, 10:frame_end], onset[KEY, 10] = 0.9, 0.9
    for t, p in (offset_peaks or {}).items():
        offset[KEY, t] = p
        offset[KEY, t - 1] = offset[KEY, t + 1] = p / 3  # a peak, not a plateau
    return {"frame": frame, "onset": onset, "offset": offset}


def _spans(notes) -> list[tuple[int, int]]:
    return [(int(round(a * FR)), int(round(b * FR))) for a, b in zip(notes.onset, notes.offset)]


def _decode(a: dict, params: DecodeParams, offset: bool = True):
    return decode_notes(a["frame"], a["onset"], FR, params, None, a["offset"] if offset else None)


def test_an_offset_peak_ends_a_sustained_note_there():
    a = _sustained({40: 0.7})
    params = DecodeParams(frame_threshold=0.5, onset_threshold=0.5, offset_threshold=0.5, min_duration=0.0)
    assert _spans(_decode(a, params)) == [(10, 40)]            # ends at the peak frame (exclusive)
    assert _spans(_decode(a, params, offset=False)) == [(10, 80)]  # no offset head: the frame rule
    assert _spans(_decode(a, params.with_thresholds(offset=0.8))) == [(10, 80)]  # peak below threshold
    assert _spans(_decode(a, params.with_thresholds(offset=OFFSETS_OFF))) == [(10, 80)]


def test_whichever_comes_first_ends_the_note():
    params = DecodeParams(0.5, 0.5, 0.5, min_duration=0.0)
    # The frame falls below its threshold (frame 30) before the offset peak (frame 40).
    assert _spans(_decode(_sustained({40: 0.7}, frame_end=30), params)) == [(10, 30)]
    # Two offset peaks: the first after the onset counts; one before the onset does not.
    assert _spans(_decode(_sustained({5: 0.9, 25: 0.6, 50: 0.9}), params)) == [(10, 25)]
    # The key struck again (frame 60) after an offset peak (frame 40): two notes, each ending right.
    a = _sustained({40: 0.7, 70: 0.7}, frame_end=90)
    a["onset"][KEY, 60] = 0.9
    assert _spans(_decode(a, params)) == [(10, 40), (60, 70)]


def test_a_notes_held_tail_does_not_become_a_note_with_infer_onsets():
    """With ``infer_onsets`` frame runs no onset explains become notes; the frames an offset peak
    cut off a note are explained by that note, so they are not."""
    a = _sustained({40: 0.7})
    a["frame"][5, 50:70] = 0.9  # a frame run no onset explains: a note of its own
    params = DecodeParams(0.5, 0.5, 0.5, min_duration=0.0, infer_onsets=True)
    assert sorted(zip(_decode(a, params).pitch, _spans(_decode(a, params)))) == [(21 + 3, (10, 40)), (21 + 5, (50, 70))]


@pytest.mark.parametrize(("params", "n_notes", "digest"), [
    (DecodeParams(0.6, 0.7), 913, "ca197a3937e38ba4"),
    (DecodeParams(0.3, 0.5, infer_onsets=True, min_duration=0.0), 13422, "944c6d55282aa2e9"),
])
def test_without_an_offset_head_decoding_is_what_it_was(params, n_notes, digest):
    """Random activations decode to exactly the notes the decoder gave before offsets existed
    (count and digest recorded with that decoder), whatever the offset threshold."""
    import hashlib

    rng = np.random.default_rng(0)
    frame, onset = rng.random((2, 88, 400)).astype(np.float32)
    for t in (0.05, 0.5, OFFSETS_OFF):
        n = decode_notes(frame, onset, FR, params.with_thresholds(offset=t))
        rows = np.stack([np.round(n.onset * FR), np.round(n.offset * FR), n.pitch, n.velocity], 1)
        assert (len(n), hashlib.sha1(rows.astype(np.int64).tobytes()).hexdigest()[:16]) == (n_notes, digest)


def test_tuning_finds_the_offset_threshold_between_a_spurious_and_the_true_release():
    """Reference note frames 10..29; the net holds it to frame 79 but its offset head peaks at the
    release (frame 30, 0.45) and, spuriously, mid-note (frame 20, 0.35): only 0.4 on the grid ends
    the note where it ends. A clip without offsets keeps the configured offset threshold."""
    a = _sustained({20: 0.35, 30: 0.45})
    clip = {**a, "target_frame": np.zeros((KEYS, FRAMES), bool), "target_onset": np.zeros((KEYS, FRAMES), bool)}
    clip["target_frame"][KEY, 10:30], clip["target_onset"][KEY, 10] = True, True
    refs = [reference_notes(clip, FR, 21)]
    base = DecodeParams(0.5, 0.5, offset_threshold=0.66, min_duration=0.0)
    frame_t, onset_t, offset_t = tune_thresholds([clip], refs, base, FR, THRESHOLD_GRID, "notes")
    assert offset_t == 0.4
    assert _spans(_decode(a, base.with_thresholds(frame_t, onset_t, offset_t))) == [(10, 30)]
    no_head = {k: v for k, v in clip.items() if k != "offset"}
    assert tune_thresholds([no_head], refs, base, FR, THRESHOLD_GRID, "notes")[2] == 0.66
    # An offset head that only misleads (a peak just after the onset, none at the release): off.
    misleading = {**clip, "offset": _sustained({12: 0.9})["offset"]}
    assert tune_thresholds([misleading], refs, base, FR, THRESHOLD_GRID, "notes")[2] == OFFSETS_OFF


def test_a_trained_model_with_an_offset_head_tunes_stores_and_decodes_offsets(tiny_run):
    """debug=tiny with model.net.offset=true: the checkpoint stores three tuned thresholds (the
    offset one logged as val/threshold_offset), the inference model predicts offsets, and
    decoding with them only ever ends notes earlier than the frame rule, never starts others."""
    import json

    import torch

    from wavespace.data import SynthDataset
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import transcribe_audio

    ckpt = torch.load(tiny_run.checkpoint, map_location="cpu", weights_only=True)
    stored = ckpt["state_dict"]["decode_thresholds"].tolist()
    metrics = json.loads((tiny_run.run_dir / "metrics.json").read_text())["metrics"]
    assert len(stored) == 3 and metrics["val/threshold_offset"] == pytest.approx(stored[2])
    model = load_transcriber(str(tiny_run.run_dir))
    audio = SynthDataset(1, clip_seconds=3.0, seed=5).generate(0)[0]
    params = model.decode_params(frame_threshold=0.3, onset_threshold=0.3, offset_threshold=0.2, min_duration=0.0)
    notes, probs = transcribe_audio(model, audio, params)
    assert set(probs) >= {"frame", "onset", "offset", "velocity"} and len(notes) > 0
    plain, _ = transcribe_audio(model, audio, params.with_thresholds(offset=OFFSETS_OFF))
    ends = {(p, on): off for on, off, p in zip(plain.onset, plain.offset, plain.pitch)}
    assert all((p, on) in ends and off <= ends[p, on] for on, off, p in zip(notes.onset, notes.offset, notes.pitch))


def test_both_command_forms_take_an_offset_threshold(tmp_path):
    from omegaconf import OmegaConf

    from tests.conftest import CONF
    from wavespace.transcribe import build_parser, config_from_args

    args = build_parser().parse_args([str(tmp_path), "a.wav", "--offset-threshold", "0.3"])
    assert config_from_args(args).offset_threshold == 0.3
    for entry in ("transcribe", "evaluate"):  # null: the tuned one, from the checkpoint
        assert OmegaConf.load(CONF / f"{entry}.yaml").offset_threshold is None
