from wavespace.run import config_hash, to_plain


def _hash(cfg):
    return config_hash(to_plain(cfg), list(cfg.run_hash_ignore))


def test_hash_ignores_where_a_run_executes_but_not_what_it_computes(compose_cfg):
    base = _hash(compose_cfg())
    assert _hash(compose_cfg("trainer=cpu", "data.num_workers=0", "logger=csv")) == base
    assert _hash(compose_cfg("model.optimizer.lr=0.1")) != base
    assert _hash(compose_cfg("seed=1")) != base
    assert _hash(compose_cfg("geometry.hop_length=512")) != base


def test_moving_a_dataset_or_its_cache_keeps_the_run_id(compose_cfg):
    base = _hash(compose_cfg("data=maestro"))
    assert _hash(compose_cfg("data=maestro", "data.train.root=/mnt/volume/maestro", "paths.cache_dir=/x")) == base
    assert _hash(compose_cfg("data=maestro", "data.train.clip_seconds=20.0")) != base


def test_default_composition_is_the_synthetic_salience_run(compose_cfg):
    cfg = compose_cfg()
    assert cfg.data.train._target_.endswith("SynthDataset")
    assert cfg.features._target_.endswith("CQT") and cfg.model._target_.endswith("SupervisedSalience")
    # geometry is declared once and interpolated everywhere
    cfg = compose_cfg("geometry.hop_length=512")
    assert cfg.features.hop_length == cfg.data.train.hop_length == cfg.data.val.hop_length == 512
