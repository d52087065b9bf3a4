"""Helper of ``serve_vs_mlflow.py``, run by the MLflow venv's python (not the project's).

Loads the benchmark's skops file with an explicit trusted-types list (the types the
workbench's own allow-list accepted for this very file) and saves it as an MLflow model (skops
format, same trusted list) whose pyfunc returns ``predict_proba``, like the workbench stub::

    .mlflow-venv/bin/python _mlflow_save.py --skops model.skops --out mlflow-model \
        --trusted '["sklearn.pipeline.Pipeline", ...]' --example example.json

``example.json`` is ``{"columns": [...], "data": [[...]]}`` (the input example). Prints one JSON
line: the MLflow and pandas versions and the loaded pipeline's probabilities for the example.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skops", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--trusted", required=True, help="JSON list of allowed type names")
    parser.add_argument("--example", required=True, help="JSON file: columns and data")
    parser.add_argument("--requirements", default="[]", help="JSON list for pip_requirements")
    args = parser.parse_args(argv)
    # Nothing leaves this machine: no usage telemetry from MLflow.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")

    import mlflow
    import mlflow.sklearn
    import pandas as pd
    import skops.io as sio

    trusted = list(json.loads(args.trusted))
    reported = set(sio.get_untrusted_types(file=args.skops))
    outside = sorted(reported - set(trusted))
    if outside:
        print(f"refusing {args.skops}: untrusted types {outside}", file=sys.stderr)
        return 2
    pipe = sio.load(args.skops, trusted=trusted)
    with open(args.example, encoding="utf-8") as f:
        example = json.load(f)
    frame = pd.DataFrame(example["data"], columns=example["columns"])
    requirements = json.loads(args.requirements) or None
    mlflow.sklearn.save_model(
        pipe,
        args.out,
        input_example=frame,
        pyfunc_predict_fn="predict_proba",
        # MLflow 3 stores sklearn models with skops too (when skops is installed): the same
        # explicit list, never pickle.
        serialization_format="skops",
        skops_trusted_types=trusted,
        # Explicit requirements: MLflow's inference of them would import-probe a subprocess.
        pip_requirements=requirements,
    )
    proba = pipe.predict_proba(frame).tolist()
    versions = {"mlflow": mlflow.__version__, "pandas": pd.__version__}
    print(json.dumps({**versions, "probabilities": proba}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
