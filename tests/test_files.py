import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from wavespace.files import atomic_path, digest, save_array, to_plain, write_json


def test_digest_ignores_key_order_and_pins_its_value():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}, 10) == "9f89c740ce"  # sha1('{"a":1}'): keys on disk depend on it
    assert digest({"a": 1}) != digest({"a": 2})


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_json(tmp_path / "sub" / "x.json", {"b": 1, "a": 2})
    assert json.loads(path.read_text()) == {"a": 2, "b": 1}
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"a": 2, "b": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]
    save_array(tmp_path / "a.npy", np.arange(3))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), [0, 1, 2])


def test_to_plain_resolves_and_drops_the_hydra_node():
    cfg = OmegaConf.create({"a": 1, "b": "${a}", "hydra": {"x": "${oops}"}, "c": "???"})
    assert to_plain(cfg) == {"a": 1, "b": 1, "c": "???"}
    assert to_plain(OmegaConf.create([1, "${0}"])) == [1, 1]
    assert to_plain({"kept": 1}) == {"kept": 1}
