"""Per-piece transcription metrics of a checkpoint on a dataset split.

``python -m wavespace.evaluate ckpt=PATH data=synth|rendered|maestro split=test``
(``data_from_checkpoint=true``: the data settings the checkpoint was trained with, e.g. the same
rendered-MIDI generator, and its held-out test split)

A thin Hydra entry point: the scoring loop is :mod:`wavespace.transcription.evaluation`. A table
is printed and everything is written as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from wavespace.config import config_dir
from wavespace.errors import reported_errors
from wavespace.files import write_json


def run(cfg: DictConfig) -> dict[str, Any]:
    import torch
    from hydra.utils import instantiate

    from wavespace.loading import load_transcriber
    from wavespace.transcription.evaluation import EvaluateError, evaluate_model, iter_pieces

    model = load_transcriber(cfg.get("ckpt"), cfg.get("device", "cpu"), str(cfg.get("precision", "fp32")))
    trained = model.run_config or {}
    # Data must be cut on the checkpoint's own time-frequency grid (and file datasets key their
    # feature cache on its front-end); their bad-file reports go next to the results.
    out = Path(cfg.output)
    with open_dict(cfg):
        cfg.geometry = OmegaConf.create(trained["geometry"])
        cfg.features = OmegaConf.create(trained["features"])
        cfg.run_dir = str(out.parent)
        if cfg.get("data_from_checkpoint"):  # the exact data settings the model was trained with
            cfg.data = OmegaConf.create(trained["data"])
            cfg.data_name = f"{cfg.data_name} (from checkpoint)"
            for node in cfg.data.values():
                if isinstance(node, DictConfig) and "report_dir" in node:
                    node.report_dir = str(out.parent)
    split = {"validation": "val", "valid": "val"}.get(str(cfg.split), str(cfg.split))
    node = cfg.data.get(split)
    if split not in ("train", "val", "test") or node is None or "_target_" not in node:
        raise EvaluateError(f"data={cfg.data_name} has no '{cfg.split}' split (choose train, val or test).")
    dataset = instantiate(node)  # only this split: nothing else is scanned, rendered or cached
    params = model.decode_params(frame_threshold=cfg.get("frame_threshold"),
                                 onset_threshold=cfg.get("onset_threshold"),
                                 offset_threshold=cfg.get("offset_threshold"), min_duration=cfg.get("min_duration"))
    result = evaluate_model(model, iter_pieces(dataset, cfg.get("limit")), params, float(cfg.eval_frame_rate),
                            bool(cfg.get("progress", True)), chunk_seconds=float(cfg.chunk_seconds),
                            context_seconds=float(cfg.context_seconds), batch_size=int(cfg.batch_size))
    # The net's dtype (precision=auto picks bfloat16 where it is native): scores from another
    # precision are not the same measurement. Exported graphs and full tasks run in float32.
    dtype = getattr(model, "net_dtype", torch.float32)
    result.update(checkpoint=model.checkpoint_path, data=str(cfg.data_name), split=split,
                  precision=str(dtype).removeprefix("torch."))
    write_json(out, result)
    result["output"] = str(out)
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        result = run(cfg)
    from wavespace.transcription.evaluation import format_table

    print(format_table(result))
    print(f"written to {result['output']}")


if __name__ == "__main__":
    main()
