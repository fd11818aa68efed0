"""Hydra app the pods run for Hydra's own launcher test suite (``python -m suite_app``).

It composes the configs of ``hydra.test_utils`` (the suite's configs) with the config name and
overrides the entrypoint passes, and records its result the way ``wavespace.train`` does:
``result.json`` in the job's Hydra output dir.
"""

import json
from pathlib import Path

import hydra
import hydra.test_utils
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

CONFIGS = str(Path(hydra.test_utils.__file__).parent / "configs")


@hydra.main(version_base=None, config_path=CONFIGS)
def main(cfg: DictConfig) -> float:
    out = Path(HydraConfig.get().runtime.output_dir)
    result = {"status": "COMPLETED", "metrics": {"value": 100.0}, "optimized_metric": "value",
              "overrides": list(HydraConfig.get().overrides.task)}
    (out / "result.json").write_text(json.dumps(result))
    return 100.0


if __name__ == "__main__":
    main()
