"""The CQT front-end with FFT decimation against nnAudio's stock transforms, same input, same run.

``features=cqt`` uses nnAudio's CQT2010v2 kernels with its octave-wise low-pass filtering done
by FFT (wavespace.features.cqt.fft_decimate) instead of nnAudio's 256-tap single-channel conv1d.
Since 2026-11 long signals are filtered by overlap-save in blocks (``BLOCK`` samples); the
``one FFT`` column is the same transform with one FFT over the whole signal, as before.
This measures all, plus the direct CQT1992v2, on the piano22k geometry (264 bins, 36 per
octave, hop 256): one 20 s file (what transcribe sees) and a training batch of 8 x 4 s. It also
prints the largest difference from nnAudio's own output, relative to its peak.

  OMP_NUM_THREADS=1 .venv/bin/python bench/cqt_decimation.py [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch


def timed(fn, rounds: int) -> float:
    """Best of ``rounds`` calls (after one warm-up), in seconds."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from nnAudio.features import CQT1992v2, CQT2010v2

    import wavespace.features.cqt as cqt_module
    from wavespace.features.cqt import make_nnaudio_cqt

    sr, hop, fmin, bpo, n_bins = 22050, 256, 27.5, 36, 264
    kw = dict(sr=sr, hop_length=hop, fmin=fmin, n_bins=n_bins, bins_per_octave=bpo,
              output_format="Magnitude", pad_mode="constant", verbose=False)
    ours = make_nnaudio_cqt(sr, hop, fmin, bpo, n_bins, "2010")[0].to(args.device)
    stock = CQT2010v2(**kw).to(args.device)
    direct = CQT1992v2(**kw).to(args.device)
    gen = torch.Generator().manual_seed(0)
    cases = {"1 x 20 s": torch.randn(1, sr * 20, generator=gen), "8 x 4 s": torch.randn(8, sr * 4, generator=gen)}
    print(f"device {args.device}, {args.threads} thread(s), best of {args.rounds}")
    print(f"{'input':<10}{'ours':>10}{'one FFT':>11}{'nnAudio 2010':>14}{'nnAudio 1992':>14}{'one FFT/ours':>14}"
          f"{'2010/ours':>11}{'1992/ours':>11}{'max rel diff':>14}")
    with torch.inference_mode():
        for name, x in cases.items():
            x = x.to(args.device)
            t_ours, t_stock, t_direct = (timed(lambda m=m, x=x: m(x), args.rounds)
                                        for m in (ours, stock, direct))
            block, cqt_module.BLOCK = cqt_module.BLOCK, 1 << 62
            try:
                t_one = timed(lambda x=x: ours(x), args.rounds)
            finally:
                cqt_module.BLOCK = block
            ref = stock(x)
            diff = float((ours(x) - ref).abs().max() / ref.abs().max())
            print(f"{name:<10}{t_ours * 1e3:>8.1f}ms{t_one * 1e3:>9.1f}ms{t_stock * 1e3:>12.1f}ms"
                  f"{t_direct * 1e3:>12.1f}ms{t_one / t_ours:>13.1f}x{t_stock / t_ours:>10.1f}x"
                  f"{t_direct / t_ours:>10.1f}x{diff:>14.1e}")


if __name__ == "__main__":
    main()
