"""Replayable traffic: the seeded synthetic stream and its knobs, CSV and prediction-log replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.datasets import Dataset, load_dataset
from workbench.exceptions import ConfigError, DatasetError
from workbench.traffic import (
    CovariateDrift,
    LabelDrift,
    Seasonality,
    read_labels,
    replay_csv,
    replay_log,
    synthetic_stream,
)


@pytest.fixture(scope="module")
def cancer() -> Dataset:
    return load_dataset("breast_cancer")


def test_same_seed_same_stream_and_knobs_do_not_move_the_rows(cancer: Dataset) -> None:
    drift = [CovariateDrift(("mean radius",), start=0.5, shift=2.0)]
    a = synthetic_stream(cancer, n=400, seed=5, covariate=drift, noise=0.1)
    b = synthetic_stream(cancer, n=400, seed=5, covariate=drift, noise=0.1)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    plain = synthetic_stream(cancer, n=400, seed=5)
    # Each knob draws from its own generator: adding a drift keeps the resampled rows.
    assert plain.requests["row"].tolist() == a.requests["row"].tolist()
    other = synthetic_stream(cancer, n=400, seed=6)
    assert plain.requests["row"].tolist() != other.requests["row"].tolist()
    assert a.requests.columns.tolist()[:3] == ["key", "ts", "row"]
    assert a.requests["key"].is_unique and a.requests["ts"].is_monotonic_increasing


def test_covariate_drift_abrupt_and_gradual(cancer: Dataset) -> None:
    std = cancer.X["mean radius"].std()
    base = synthetic_stream(cancer, n=1000, seed=1)
    abrupt = synthetic_stream(
        cancer, n=1000, seed=1, covariate=[CovariateDrift(("mean radius",), start=0.5, shift=2.0)]
    )
    diff = (abrupt.requests["mean radius"] - base.requests["mean radius"]).to_numpy()
    assert np.allclose(diff[:500], 0) and np.allclose(diff[500:], 2.0 * std)
    assert np.allclose(abrupt.requests["mean texture"], base.requests["mean texture"])
    ramp = synthetic_stream(
        cancer,
        n=1000,
        seed=1,
        covariate=[CovariateDrift(("mean radius",), start=200, shift=1.0, ramp=400)],
    )
    grown = (ramp.requests["mean radius"] - base.requests["mean radius"]).to_numpy() / std
    assert np.allclose(grown[:200], 0) and np.allclose(grown[600:], 1.0)
    assert 0 < grown[300] < grown[500] < 1  # strength grows linearly over the ramp


def test_scale_minus_one_mirrors_around_the_mean(cancer: Dataset) -> None:
    mean = cancer.X["worst area"].mean()
    base = synthetic_stream(cancer, n=200, seed=2)
    mirrored = synthetic_stream(
        cancer, n=200, seed=2, covariate=[CovariateDrift(("worst area",), start=0, scale=-1.0)]
    )
    assert np.allclose(mirrored.requests["worst area"], 2 * mean - base.requests["worst area"])


def test_prior_shift_and_flipped_labels(cancer: Dataset) -> None:
    prior = synthetic_stream(
        cancer, n=2000, seed=3, label=LabelDrift("prior", start=0.5, priors={0: 4, 1: 1})
    )
    y = prior.labelled()["label"].to_numpy()
    assert y[:1000].mean() == pytest.approx(cancer.y.mean(), abs=0.05)
    assert y[1000:].mean() == pytest.approx(0.2, abs=0.04)  # share of class 1 after the shift
    base = synthetic_stream(cancer, n=2000, seed=3)
    flipped = synthetic_stream(
        cancer, n=2000, seed=3, label=LabelDrift("flip", start=0.5, fraction=0.3)
    )
    a, b = base.labelled()["label"].to_numpy(), flipped.labelled()["label"].to_numpy()
    assert (a[:1000] == b[:1000]).all()
    assert np.mean(a[1000:] != b[1000:]) == pytest.approx(0.3, abs=0.04)


def test_seasonality_follows_a_sinusoid_over_simulated_time(cancer: Dataset) -> None:
    std = cancer.X["mean texture"].std()
    base = synthetic_stream(cancer, n=24 * 60, seed=4, interval="1h")
    season = synthetic_stream(
        cancer,
        n=24 * 60,
        seed=4,
        interval="1h",
        seasonality=Seasonality(("mean texture",), amplitude=1.0, period="30D"),
    )
    offset = (season.requests["mean texture"] - base.requests["mean texture"]) / std
    hours = np.arange(24 * 60)
    assert np.allclose(offset, np.sin(2 * np.pi * hours / (30 * 24)), atol=1e-9)
    assert np.allclose(season.requests["mean radius"], base.requests["mean radius"])


def test_delayed_labels_arrive_late_and_some_never(cancer: Dataset) -> None:
    s = synthetic_stream(cancer, n=1000, seed=8, label_delay="2D", label_fraction=0.8)
    joined = s.requests.merge(s.labels, on="key")
    delay = (joined["label_ts"] - joined["ts"]).dt.total_seconds() / 86400
    assert delay.between(1.0, 3.0).all() and 1.8 < delay.mean() < 2.2
    assert 750 < len(s.labels) < 850
    assert s.labels["label_ts"].is_monotonic_increasing
    halfway = s.requests["ts"].iloc[500]
    early = s.labels_as_of(halfway)
    assert (early["label_ts"] <= halfway).all() and 0 < len(early) < 500
    assert len(s.labelled(as_of=halfway)) == len(early)


def test_requests_iterate_as_plain_json_ready_dicts(cancer: Dataset) -> None:
    s = synthetic_stream(cancer, n=3, seed=0)
    first = next(s.iter_requests())
    assert set(first) == {"key", "ts", "features"} and first["key"] == "r000000"
    assert list(first["features"]) == list(cancer.X.columns)
    json.dumps(first["features"])  # plain Python values
    assert [len(b) for b in s.iter_batches(2)] == [2, 1]


def test_knobs_that_make_no_sense_are_refused(cancer: Dataset) -> None:
    with pytest.raises(ConfigError, match=r"unknown feature.*'nope'"):
        synthetic_stream(cancer, n=10, covariate=[CovariateDrift(("nope",))])
    with pytest.raises(ConfigError, match="not a duration"):
        synthetic_stream(cancer, n=10, interval="soon")
    with pytest.raises(ConfigError, match="label_fraction"):
        synthetic_stream(cancer, n=10, label_fraction=1.5)
    diabetes = load_dataset("diabetes")
    with pytest.raises(ConfigError, match="prior shift needs a classification"):
        synthetic_stream(diabetes, n=10, label=LabelDrift("prior", priors={0: 1}))
    cat = pd.DataFrame({"color": ["red", "blue"] * 20, "x": np.arange(40.0), "y": [0, 1] * 20})
    from workbench.datasets import _finish

    ds = _finish(
        name="toy", source="test", X=cat[["color", "x"]], y=cat["y"], task="classification"
    )
    with pytest.raises(ConfigError, match="categorical"):
        synthetic_stream(ds, n=10, covariate=[CovariateDrift(("color",), shift=1.0)])


def test_to_csv_writes_labelled_rows_without_repeats(cancer: Dataset, tmp_path: Path) -> None:
    s = synthetic_stream(cancer, n=1500, seed=9, rows=np.arange(100))
    path = s.to_csv(tmp_path / "recent.csv")
    frame = pd.read_csv(path)
    assert frame.columns.tolist() == [*cancer.X.columns, "target"]
    assert len(frame) == len(frame.drop_duplicates()) <= 100  # drawn from 100 rows


def test_replay_csv_with_keys_times_and_target(tmp_path: Path) -> None:
    path = tmp_path / "traffic.csv"
    pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "when": ["2026-03-01T00:00Z", "2026-03-01T01:00Z", "2026-03-01T02:00Z"],
            "x": [1.0, 2.0, 3.0],
            "y": [0, 1, 0],
        }
    ).to_csv(path, index=False)
    s = replay_csv(path, target="y", key="id", ts="when", label_delay="1h")
    assert s.features == ("x",) and s.requests["key"].tolist() == ["a", "b", "c"]
    assert s.labels["label"].tolist() == [0, 1, 0]
    assert (s.labels["label_ts"] - s.requests["ts"]).eq(pd.Timedelta("1h")).all()
    plain = replay_csv(path, features=["x"])
    assert plain.labels.empty and plain.requests["key"].tolist() == ["000000", "000001", "000002"]
    with pytest.raises(DatasetError, match=r"'nope' not in traffic\.csv"):
        replay_csv(path, target="nope")


def test_replay_log_reads_rows_outputs_and_skips_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    entries = [
        {
            "ts": "2026-03-01T00:00:00.000+00:00",
            "request_id": "k1",
            "model_version": "v1",
            "latency_ms": 0.5,
            "inputs": [[1.0, 2.0]],
            "outputs": {"labels": ["no"], "probabilities": [[0.9, 0.1]], "classes": ["no", "yes"]},
        },
        {
            "ts": "2026-03-01T00:00:01.000+00:00",
            "request_id": "k2",
            "model_version": "v1",
            "latency_ms": 0.7,
            "inputs": [[3.0, 4.0], [5.0, None]],
            "outputs": {
                "labels": ["yes", "no"],
                "probabilities": [[0.2, 0.8], [0.6, 0.4]],
                "classes": ["no", "yes"],
            },
        },
    ]
    text = "".join(json.dumps(e) + "\n" for e in entries) + '{"ts": "2026-03-01T00:0'
    log.write_text(text)
    s = replay_log(log, features=["a", "b"])
    assert s.requests["key"].tolist() == ["k1", "k2:0", "k2:1"]
    assert s.X.to_numpy().tolist()[2][0] == 5.0 and np.isnan(s.X.to_numpy()[2][1])
    assert s.outputs["p_1"].tolist() == [0.1, 0.8, 0.4]
    assert s.outputs["request_id"].tolist() == ["k1", "k2", "k2"]
    assert s.settings["skipped_lines"] == 1 and s.settings["classes"] == ["no", "yes"]
    with pytest.raises(DatasetError, match="3 feature names"):
        replay_log(log, features=["a", "b", "c"])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("not json\n")
    with pytest.raises(DatasetError, match="no prediction log entries"):
        replay_log(empty)


def test_read_labels_accepts_request_id_and_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"request_id": "k1", "y": 1}\n{"request_id": "k2", "y": 0}\n')
    labels = read_labels(path)
    assert labels["key"].tolist() == ["k1", "k2"] and labels["label"].tolist() == [1, 0]
    assert labels["label_ts"].isna().all()
    dup = tmp_path / "dup.csv"
    dup.write_text("key,label\na,1\na,0\n")
    with pytest.raises(DatasetError, match="'a' more than once"):
        read_labels(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,value\na,1\n")
    with pytest.raises(DatasetError, match="needs a 'key'"):
        read_labels(bad)
