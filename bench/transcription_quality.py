"""Piano transcription quality on audio no model trained on, against Spotify's basic-pitch.

Two parts, same run, same files for both systems, reported separately:

(a) generated pieces: random piano MIDI with pedal from the rendered dataset's generator, with a
    seed no training split uses (the model has seen this generator, not these pieces);
(b) real compositions: public-domain piano pieces, songs with piano, string quartets and chorales
    from music21's corpus, merged into one piano track, a ``--seconds`` excerpt of each from its
    first note (bench/real_music.py). No training preset uses them, and nothing here chooses a
    hyperparameter or threshold.

Both are rendered with FluidSynth using SoundFonts the model never heard (training used
FluidR3_GM) and scored with the same mir_eval code (wavespace.transcription.metrics, per piece
then averaged): frame F1 (both note lists rendered to 100 Hz rolls), note-onset F1 (50 ms),
note-with-offset F1. Rows: per SoundFont, per category of part (b), and pooled.

Speed, one CPU thread for each system (torch.set_num_threads(1) here, onnxruntime sessions forced
to one thread there), as the real-time factor (wall time / audio time):
* model time: reading and resampling the file included, the fastest of --repeats runs per file,
  model already loaded and warmed up;
* the whole command (``--command-rtf``): ``python -m wavespace.transcribe`` and basic-pitch's CLI
  each run once over part (b)'s files of one SoundFont, start-up and model load included; each
  command on a 1 s clip (start-up + model load); and from the two the warm real-time factor,
  what each file costs once the command is running (model loaded, first file done).
Each system runs its own defaults: ours as `wavespace.transcribe` does (60 s chunks with 2 s of
context each side, the net in bfloat16 where the CPU runs it natively: ``--precision``),
basic-pitch in its ~2 s overlapping windows through its ONNX model. Decision thresholds: ours as
tuned on our validation split and stored in the checkpoint, basic-pitch's defaults.

basic-pitch 0.4.0 pins tensorflow<2.15.1 on Linux/Python 3.11, which must not enter the shared
torch venv; it runs from its own venv (``--basic-pitch-python``, default .venv-basic-pitch/,
built by ``make bench-transcription`` from bench/basic_pitch_requirements.txt plus
``pip install --no-deps basic-pitch``), using the ONNX model its wheel ships. That venv's music21
also converts part (b)'s scores.

  make bench-transcription      # held-out SoundFonts, basic-pitch venv, 30-min training, this
  .venv/bin/python bench/transcription_quality.py [--ckpt RUN_DIR_OR_CKPT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASIC_PITCH_RUNNER = r'''
import json, sys, time
from pathlib import Path
import onnxruntime as ort
_session = ort.InferenceSession
def _one_thread(path, sess_options=None, *args, **kwargs):  # same CPU budget as the torch side
    opts = sess_options or ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return _session(path, opts, *args, **kwargs)
ort.InferenceSession = _one_thread
from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
from basic_pitch.inference import Model, predict
import soundfile as sf
wavs, out, repeats = [Path(p) for p in json.loads(sys.argv[1])], Path(sys.argv[2]), int(sys.argv[3])
model = Model(build_icassp_2022_model_path(FilenameSuffix.onnx))
predict(str(wavs[0]), model)  # warm-up: session creation is not part of the real-time factor
times = {}
for wav in wavs:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, midi, _ = predict(str(wav), model)
        best = min(best, time.perf_counter() - t0)
    times[wav.stem] = best
    midi.write(str(out / (wav.stem + ".mid")))
print(json.dumps(times))
'''
def generated_midi(out: Path, n_random: int, seconds: float, seed: int) -> list[Path]:
    """Part (a): random piano MIDI from the training generator, with a seed training never uses."""
    from wavespace.data.midi import write_midi
    from wavespace.data.rendered import random_notes, random_pedal

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_random):
        rng = np.random.default_rng([seed, 99, i])
        tempo = float(rng.uniform(90, 140))
        notes = random_notes(rng, seconds, 4.0, 4, tempo, (30, 120), (21, 108))
        pedal = random_pedal(rng, seconds, tempo, 0.3)
        paths.append(write_midi(notes, out / f"random-{i:02d}.mid", tempo_bpm=tempo, pedal=pedal, tail_seconds=0.5))
    return paths


def real_midi(out: Path, seconds: float, music21_python: str) -> list[Path]:
    """Part (b): excerpts of real compositions (bench/real_music.py)."""
    from real_music import convert, excerpts

    scores, failed = convert(music21_python, out / "scores")
    for name, why in failed.items():
        print(f"(skipped {name}: {why})")
    return excerpts(scores, out / "real", seconds)


def render_all(midis: list[Path], soundfonts: list[Path], out: Path, sample_rate: int = 44100) -> list[tuple[Path, Path, str]]:
    from wavespace.data.rendered import render_file

    jobs = []
    for sf in soundfonts:
        for midi in midis:
            wav = out / sf.stem / f"{midi.stem}.wav"
            if not wav.is_file():
                render_file(midi, wav, sf, sample_rate, gain=0.5)
            jobs.append((midi, wav, sf.stem))
    return jobs


def run_ours(ckpt: str, jobs: list[tuple[Path, Path, str]], out: Path, repeats: int = 1,
             precision: str = "auto") -> dict[str, float]:
    import torch

    from wavespace.data.midi import write_midi
    from wavespace.loading import load_transcriber
    from wavespace.transcription.inference import transcribe_audio
    from wavespace.transcription.outputs import read_audio

    torch.set_num_threads(1)
    model = load_transcriber(ckpt, "cpu", precision)  # as `transcribe` loads it
    sr = int(model.features.sample_rate)
    transcribe_audio(model, read_audio(jobs[0][1], sr))  # warm-up; chunking as the CLI's defaults
    times = {}
    for _, wav, font in jobs:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            notes, _ = transcribe_audio(model, read_audio(wav, sr))
            best = min(best, time.perf_counter() - t0)
        times[f"{font}/{wav.stem}"] = best
        write_midi(notes, out / font / f"{wav.stem}.mid")
    return times


def run_basic_pitch(bp_python: str, jobs: list[tuple[Path, Path, str]], out: Path, repeats: int = 1) -> dict[str, float]:
    times = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for font in sorted({j[2] for j in jobs}):
        wavs = [str(w) for _, w, f in jobs if f == font]
        (out / font).mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([bp_python, "-c", BASIC_PITCH_RUNNER, json.dumps(wavs), str(out / font), str(repeats)],
                              capture_output=True, text=True, env=env, timeout=3600)
        if proc.returncode:
            raise RuntimeError(f"basic-pitch failed: {proc.stderr[-2000:]}")
        last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
        times.update({f"{font}/{k}": v for k, v in json.loads(last).items()})
    return times


def part(midi: Path) -> str:
    return "b" if midi.stem.startswith("real-") else "a"


def score(jobs, midi_dir: Path, times: dict[str, float]) -> dict[str, dict]:
    """Mean scores of the MIDI files in ``midi_dir``, per part x SoundFont, per part (b) category,
    and per part over everything (``a/all``, ``b/all``)."""
    import soundfile as sf
    from real_music import category

    from wavespace.data.midi import load_notes
    from wavespace.transcription.metrics import mean_scores, transcription_scores

    rows: dict[str, list] = {}
    audio_s: dict[str, float] = {}
    wall: dict[str, float] = {}
    for midi, wav, font in jobs:
        ref = load_notes(midi, sustain=True)  # the labels' own rule: pedal extends offsets
        est = load_notes(midi_dir / font / f"{wav.stem}.mid", sustain=False, allow_empty=True)
        s = transcription_scores(ref, est)
        p = part(midi)
        groups = [f"{p}/{font}", f"{p}/all"] + ([f"b/{category(midi)}"] if p == "b" else [])
        for group in groups:
            rows.setdefault(group, []).append({k: s[k] for k in ("frame_f1", "note_f1", "note_offset_f1")})
            audio_s[group] = audio_s.get(group, 0.0) + sf.info(str(wav)).duration
            wall[group] = wall.get(group, 0.0) + times[f"{font}/{wav.stem}"]
    return {g: {**mean_scores(r), "rtf": wall[g] / audio_s[g], "pieces": len(r)} for g, r in rows.items()}


BASIC_PITCH_CLI = r'''
import sys
import onnxruntime as ort
_session = ort.InferenceSession
def _one_thread(path, sess_options=None, *args, **kwargs):
    opts = sess_options or ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return _session(path, opts, *args, **kwargs)
ort.InferenceSession = _one_thread
from basic_pitch.predict import main
sys.argv = ["basic-pitch", *sys.argv[1:]]
main()
'''


def command_rtf(ckpt: str, bp_python: str | None, wavs: list[Path], out: Path) -> dict[str, dict]:
    """Each system's whole command over ``wavs`` (start-up + model load included), one thread.

    Also each command on a 1 s clip (the first second of the first file): start-up + model
    load + almost no audio. The warm real-time factor (model loaded, first file done) is then
    (all files - the clip) / (their audio - 1 s): what each further file costs inside a command.
    """
    import soundfile as sf

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    audio = sum(sf.info(str(w)).duration for w in wavs)
    clip_dir = out / "clip"
    clip_dir.mkdir(parents=True, exist_ok=True)
    data, sr = sf.read(str(wavs[0]), frames=sf.info(str(wavs[0])).samplerate)
    clip = clip_dir / "first-second.wav"
    sf.write(str(clip), data, sr)
    clip_s = sf.info(str(clip)).duration
    # Both in basic-pitch's command form, OUT_DIR then the very same files.
    commands = {"wavespace": lambda files, dst: [
        sys.executable, "-m", "wavespace.transcribe", str(dst), *map(str, files), "--ckpt", ckpt, "--quiet"]}
    if bp_python:
        commands["basic-pitch"] = lambda files, dst: [bp_python, "-c", BASIC_PITCH_CLI, str(dst), *map(str, files)]
    result = {}
    for name, make in commands.items():
        timings = {}
        # The first run fills the OS file cache and Python's bytecode cache: not timed.
        for label, files in (("warm-up", [clip]), ("startup", [clip]), ("one file", [wavs[0]]), ("all", wavs)):
            dst = out / name / label.replace(" ", "_")
            dst.mkdir(parents=True, exist_ok=True)
            for old in dst.glob("*"):
                old.unlink()
            t0 = time.perf_counter()
            proc = subprocess.run(make(files, dst), capture_output=True, text=True, env=env, timeout=7200)
            timings[label] = time.perf_counter() - t0
            if proc.returncode:
                raise RuntimeError(f"{name} command failed: {proc.stderr[-2000:]}")
        result[name] = {"command_rtf": timings["all"] / audio, "command_s": timings["all"],
                        "warm_rtf": (timings["all"] - timings["startup"]) / (audio - clip_s),
                        "startup_s": timings["startup"], "one_file_s": timings["one file"],
                        "audio_s": audio, "files": len(wavs)}
    if "basic-pitch" in result:
        result["ratios"] = {k: result["wavespace"][k] / result["basic-pitch"][k]
                            for k in ("warm_rtf", "command_rtf", "startup_s", "one_file_s")}
    return result


def newest_preset_run(preset: str = "rendered_transcriber") -> str:
    """The most recently finished run of the bench's training preset (it wrote metrics.json)."""
    runs = sorted((REPO / "outputs" / "runs").glob(f"{preset}-*/metrics.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"No finished {preset} run under outputs/runs: train one with "
                         f"`python -m wavespace.train experiment={preset}` or pass --ckpt.")
    return str(runs[-1].parent)


def print_table(systems: dict[str, dict], prefix: str, title: str) -> None:
    cols = ("frame_f1", "note_f1", "note_offset_f1", "rtf")
    print(f"\n{title}\n{'system':<13}{'set':<30}" + "".join(f"{c:>16}" for c in cols))
    for name, groups in systems.items():
        for group, s in sorted(groups.items()):
            if group.startswith(prefix):
                label = f"{group[len(prefix):]} ({s['pieces']})"
                print(f"{name:<13}{label:<30}" + "".join(f"{s[c]:16.4f}" for c in cols))
    if "basic-pitch" in systems and prefix + "all" in systems["basic-pitch"]:
        ours, theirs = systems["wavespace"][prefix + "all"], systems["basic-pitch"][prefix + "all"]
        print("ratios wavespace / basic-pitch (all pieces): " + ", ".join(
            f"{c} {ours[c] / theirs[c]:.2f}" if theirs[c] else f"{c} n/a" for c in cols)
            + "   (rtf: lower is faster)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="checkpoint or run directory of the model to test (default: the "
                    "newest finished outputs/runs/<--preset>-* run)")
    ap.add_argument("--preset", default="rendered_transcriber", help="preset whose newest run is tested")
    ap.add_argument("--basic-pitch-python", default=str(REPO / ".venv-basic-pitch" / "bin" / "python"),
                    help="interpreter of basic-pitch's own venv (make bench-transcription builds it)")
    ap.add_argument("--soundfonts", nargs="+", default=["/usr/share/sounds/sf2/TimGM6mb.sf2",
                                                         "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"])
    ap.add_argument("--n-random", type=int, default=6, help="part (a): generated pieces")
    ap.add_argument("--seconds", type=float, default=25.0, help="length of every piece/excerpt")
    ap.add_argument("--no-real", action="store_true", help="skip part (b) (real compositions)")
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--work", default=str(REPO / "outputs" / "bench" / "transcription_quality"))
    ap.add_argument("--skip-basic-pitch", action="store_true")
    ap.add_argument("--command-rtf", action="store_true",
                    help="also time each system's whole command (start-up and model load included)")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                    help="dtype our net runs in (auto, as transcribe: bf16 where the CPU has it natively)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="time each file this many times and keep the fastest (both systems)")
    args = ap.parse_args()
    args.ckpt = args.ckpt or newest_preset_run(args.preset)
    print(f"model: {args.ckpt}")

    work = Path(args.work)
    midis = generated_midi(work / "midi" / "generated", args.n_random, args.seconds, args.seed)
    if not args.no_real:
        midis += real_midi(work / "midi", args.seconds, args.basic_pitch_python)
    jobs = render_all(midis, [Path(s) for s in args.soundfonts], work / "audio")
    n_b = sum(part(m) == "b" for m in midis)
    print(f"{len(midis) - n_b} generated + {n_b} real pieces x {len(args.soundfonts)} unseen SoundFonts "
          f"= {len(jobs)} recordings")
    systems = {"wavespace": score(jobs, work / "wavespace", run_ours(args.ckpt, jobs, work / "wavespace", args.repeats,
                                                                     args.precision))}
    bp = None if args.skip_basic_pitch else args.basic_pitch_python
    if bp:
        systems["basic-pitch"] = score(jobs, work / "basic_pitch", run_basic_pitch(bp, jobs, work / "basic_pitch", args.repeats))
    print_table(systems, "a/", "(a) generated pieces (the training generator's kind, unseen seed)")
    print_table(systems, "b/", "(b) real compositions (music21 corpus excerpts; categories pool both SoundFonts)")
    from wavespace.models.inference import inference_dtype

    result = {"checkpoint": args.ckpt, "precision": str(inference_dtype(args.precision, "cpu")).removeprefix("torch."),
              "soundfonts": args.soundfonts, "pieces": [str(m) for m in midis],
              "seconds": args.seconds, "systems": systems}
    if args.command_rtf and n_b:
        font = Path(args.soundfonts[0]).stem
        wavs = [w for m, w, f in jobs if f == font and part(m) == "b"]
        result["command"] = command_rtf(args.ckpt, bp, wavs, work / "command")
        print(f"\nwhole command, one thread, {len(wavs)} files of part (b) ({font}):")
        for name, r in result["command"].items():
            if name == "ratios":
                print("ratios wavespace / basic-pitch: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()))
                continue
            print(f"{name:<13} warm rtf {r['warm_rtf']:.4f}   rtf {r['command_rtf']:.4f}   all files "
                  f"{r['command_s']:.1f} s   start-up + load (1 s clip) {r['startup_s']:.2f} s   "
                  f"one {args.seconds:.0f} s file {r['one_file_s']:.2f} s")
    (work / "results.json").write_text(json.dumps(result, indent=2))
    print(f"written to {work / 'results.json'}")


if __name__ == "__main__":
    sys.exit(main())
