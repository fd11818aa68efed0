"""Feature extraction speed: batched wavespace front-ends vs librosa one clip at a time.

Same audio for both (N clips of S seconds of synthetic harmonic tones + noise), same process,
same thread count. Prints examples/s for each side and the ratio, plus how close the two
outputs are (correlation of log-magnitudes), so the comparison is of equal work.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/features.py            # 32 clips x 2 s
    .venv/bin/python bench/features.py --clips 64 --threads 2 --device cuda
    OMP_NUM_THREADS=1 .venv/bin/python bench/features.py --skip cqt hcqt --clock cpu   # busy machine

On CPU the batched side wins by running one large FFT/conv per batch instead of per-clip
Python and NumPy calls; on a GPU (``--device cuda``) the torch side is further parallel while
librosa stays on the CPU, so the ratio grows.

Also compares the two HCQT strategies (per-harmonic CQTs vs one wide CQT sliced) at hop 256
and 512, which is how ``features/hcqt.py`` picks its ``auto`` strategy, and EnCodec latents
batched vs one clip at a time (random weights; there is no librosa equivalent).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

SR, HOP, FMIN, BPO, NBINS = 22050, 256, 27.5, 36, 264


def make_audio(n_clips: int, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """[n_clips, n] float32: a few harmonic tones per clip plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    out = np.zeros((n_clips, len(t)), np.float32)
    for i in range(n_clips):
        for f0 in 440.0 * 2 ** ((rng.uniform(28, 96, 3) - 69) / 12):
            k = np.arange(1, 9)[:, None]
            k = k[(k[:, 0] * f0) < sr / 2 * 0.9]
            out[i] += (np.sin(2 * np.pi * f0 * k * t) / k**1.5).sum(0)
        out[i] += 0.05 * rng.standard_normal(len(t))
    return out / np.abs(out).max(axis=1, keepdims=True)


CLOCK = time.perf_counter  # --clock cpu: time.process_time


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: kernels, filters, numba JIT, allocator
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return min(times)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[-1], b.shape[-1])
    a, b = a[..., :n].ravel(), b[..., :n].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def report(name: str, n: int, t_ours: float, t_ref: float, ref_name: str, similarity: str) -> None:
    ours, ref = n / t_ours, n / t_ref
    print(f"{name:<10} ours {ours:9.1f} ex/s   {ref_name:<32} {ref:8.1f} ex/s   "
          f"ratio {ours / ref:6.1f}x   {similarity}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip", nargs="*", default=[], help="front-ends to skip")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this process's CPU time, which other jobs on a shared machine disturb "
                         "far less than wall time (CPU device, one thread only)")
    args = ap.parse_args()
    global CLOCK
    if args.clock == "cpu":
        if args.device != "cpu" or args.threads != 1:
            ap.error("--clock cpu measures one CPU thread: use it with --device cpu --threads 1")
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="n_fft=.*too large")  # librosa.cqt, low octaves

    import librosa

    from wavespace.features import CQT, HCQT, EncodecLatents, LogFreqSTFT, MelSpectrogram
    from wavespace.features.logfreq import log_frequencies, logfreq_filterbank

    dev = torch.device(args.device)
    audio = make_audio(args.clips, args.seconds, SR)
    x = torch.tensor(audio, device=dev)
    n = args.clips
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"{n} clips x {args.seconds} s at {SR} Hz, hop {HOP}; torch threads {args.threads}, "
          f"device {dev}; best of {args.repeats}, {args.clock} clock; librosa {librosa.__version__}")

    def ours(fe: torch.nn.Module) -> tuple[float, np.ndarray]:
        fe = fe.to(dev).eval()

        def run() -> torch.Tensor:
            with torch.no_grad():
                y = fe(x)
            sync()
            return y

        return best_time(run, args.repeats), run().cpu().numpy()

    def ref(per_clip: Callable[[np.ndarray], np.ndarray]) -> tuple[float, np.ndarray]:
        t = best_time(lambda: [per_clip(a) for a in audio], args.repeats)
        return t, np.stack([per_clip(a) for a in audio])

    log = lambda m: np.log(np.maximum(m, 1e-5))  # noqa: E731 - same compression as ours

    if "cqt" not in args.skip:
        t1, y1 = ours(CQT(SR, HOP, FMIN, BPO, NBINS))
        t2, y2 = ref(lambda a: log(np.abs(librosa.cqt(a, sr=SR, hop_length=HOP, fmin=FMIN,
                                                       n_bins=NBINS, bins_per_octave=BPO))))
        report("cqt", n, t1, t2, "librosa.cqt per clip", f"corr {corr(y1[:, 0], y2):.3f}")

    if "hcqt" not in args.skip:
        harmonics = (0.5, 1, 2)
        t1, y1 = ours(HCQT(SR, HOP, FMIN, BPO, NBINS, harmonics=harmonics))
        t2, y2 = ref(lambda a: np.stack([log(np.abs(librosa.cqt(
            a, sr=SR, hop_length=HOP, fmin=FMIN * h, n_bins=NBINS, bins_per_octave=BPO)))
            for h in harmonics]))
        report("hcqt", n, t1, t2, "librosa.cqt x3 per clip", f"corr {corr(y1, y2):.3f}")

    if "mel" not in args.skip:
        t1, y1 = ours(MelSpectrogram(SR, HOP, n_bins=256, fmin=FMIN, n_fft=2048))
        t2, y2 = ref(lambda a: log(librosa.feature.melspectrogram(
            y=a, sr=SR, n_fft=2048, hop_length=HOP, n_mels=256, fmin=FMIN, power=1.0,
            pad_mode="constant")))
        report("mel", n, t1, t2, "librosa melspectrogram per clip", f"corr {corr(y1[:, 0], y2):.4f}")

    if "logfreq" not in args.skip:
        n_fft = 4096
        fb = logfreq_filterbank(SR, n_fft, log_frequencies(FMIN, 8000.0, 256)).astype(np.float32)
        t1, y1 = ours(LogFreqSTFT(SR, HOP, n_bins=256, fmin=FMIN, fmax=8000.0, n_fft=n_fft))
        t2, y2 = ref(lambda a: log(fb @ np.abs(librosa.stft(a, n_fft=n_fft, hop_length=HOP,
                                                            pad_mode="constant"))))
        report("logfreq", n, t1, t2, "librosa.stft + matmul per clip",
               f"corr {corr(y1[:, 0], y2):.4f}")

    if "hcqt" not in args.skip:
        print("\nHCQT strategy, harmonics (0.5, 1, 2), same clips:")
        for hop in (256, 512):
            per = HCQT(SR, hop, FMIN, BPO, NBINS, strategy="per_harmonic")
            shared = HCQT(SR, hop, FMIN, BPO, NBINS, strategy="shared")
            auto = HCQT(SR, hop, FMIN, BPO, NBINS).strategy
            tp, _ = ours(per)
            ts, _ = ours(shared)
            print(f"  hop {hop}: per_harmonic ({'/'.join(per.algorithms)}) {n / tp:8.1f} ex/s, "
                  f"shared ({shared.algorithms[0]}) {n / ts:8.1f} ex/s, "
                  f"shared/per_harmonic speed {tp / ts:5.2f}x -> auto picks {auto}")

    if "encodec" not in args.skip:
        enc_audio = torch.tensor(make_audio(n, args.seconds, 24000), device=dev)
        fe = EncodecLatents(24000, 320, weights="random").to(dev)

        def batched() -> None:
            fe(enc_audio)
            sync()

        def per_clip() -> None:
            for a in enc_audio:
                fe(a[None])
            sync()

        tb, tc = best_time(batched, args.repeats), best_time(per_clip, args.repeats)
        print(f"\nencodec    batched {n / tb:9.1f} ex/s   one clip at a time {n / tc:8.1f} ex/s   "
              f"ratio {tc / tb:5.1f}x   (random weights; same cost as pretrained)")


if __name__ == "__main__":
    main()
