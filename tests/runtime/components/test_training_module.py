"""Training modules (``training.module``): a custom module's model trains, carries its own layers
to wherever it is loaded, a broken module is a clear ``model`` error without retries, and the
module's source is part of train's fingerprint."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from pipeline_helpers import LABEL, REPO

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ERROR_FILE, EXIT_REJECTED, SPEC_FILE, ComponentError, ErrorKind, join_uri
from airflow_mlops.runtime.components.train import module_fingerprint

PENGUIN_MODULE = (REPO / "include" / "penguin" / "model.py").read_text()


def train_params(module: str | None = None, source: str | None = None, epochs: int = 5, **extra) -> dict:
    return {"label": LABEL, "hidden_units": [16, 8], "learning_rate": 0.01, "epochs": epochs, "batch_size": 32, "seed": 42,
            "module": module, "module_source": source, **extra}


def train(pipeline, first_run, params: dict, **kw):
    inputs = {"examples": first_run["ingest"].outputs["examples"], "transform": first_run["transform"].outputs["transform"]}
    return pipeline.run("train", {k: v for k, v in params.items() if v is not None}, inputs, **kw)


@pytest.fixture(scope="module")
def custom(pipeline, first_run):
    """The penguin example's own module (include/penguin/model.py) trained for 30 epochs."""
    return train(pipeline, first_run, train_params("model.py", PENGUIN_MODULE, epochs=30, hyperparameters={"dropout": 0.05}))


def test_a_custom_module_trains_and_is_blessed(pipeline, first_run, custom):
    model = custom.outputs["model"]
    assert model.properties["module"] == "model.py" and model.properties["task"] == "classification"
    files = {f.rsplit("/model/", 1)[1] for f in ArtifactStore().list_files(model.uri)}
    assert {"model.keras", "training_module.py", "transform.json"} <= files
    assert ArtifactStore().read_text(model.uri + "/training_module.py") == PENGUIN_MODULE
    evaluation = pipeline.evaluate(first_run["ingest"].outputs["examples"], model, min_accuracy=0.9, run_id="custom")
    assert evaluation.metrics["accuracy"] >= 0.9, evaluation.metrics
    assert evaluation.outputs["blessing"].properties["blessed"] is True


def test_its_model_loads_where_the_module_is_not_imported(custom):
    """A fresh interpreter - as the prediction server is - loads the model through the bundled
    module file (its BillShape layer) and predicts exactly what the training run's model does."""
    program = textwrap.dedent("""
        import json, sys
        import numpy as np
        from airflow_mlops.artifacts import ArtifactStore
        from airflow_mlops.runtime.ml.model import load_model
        with ArtifactStore().local_dir(sys.argv[1]) as local:
            model = load_model(local + "/model.keras")
        rows = {"island": [["Biscoe"], ["Dream"]], "bill_length_mm": [[47.5], [None]], "bill_depth_mm": [[14.2], [18.0]],
                "flipper_length_mm": [[217.0], [190.0]], "body_mass_g": [[4875.0], [3600.0]], "sex": [["female"], [""]]}
        x = {k: np.array([[np.nan if v[0] is None else v[0]] for v in col], dtype="float32" if k not in ("island", "sex") else object)
             for k, col in rows.items()}
        print(json.dumps({"layers": [l.__class__.__name__ for l in model.layers], "p": np.asarray(model(x)).tolist()}))
    """)
    out = subprocess.run([sys.executable, "-c", program, custom.outputs["model"].uri], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert "BillShape" in loaded["layers"]
    assert all(abs(sum(row) - 1) < 1e-5 for row in loaded["p"]) and len(loaded["p"]) == 2


BROKEN = {
    "syntax": ("def build_model(context:\n", "cannot be imported: SyntaxError", "(line 1)"),
    "import": ("import a_package_that_is_not_there\n", "cannot be imported: ModuleNotFoundError", "a_package_that_is_not_there"),
    "no_build_model": ("def build(context):\n    return None\n", "has no function build_model(context) -> keras.Model", ""),
    "raises": ("def build_model(context):\n    raise ValueError('no such layer size')\n",
               "build_model failed: ValueError: no such layer size", "(at broken.py line 2)"),
    "not_a_model": ("def build_model(context):\n    return 42\n", "build_model returned int; it must return a keras.Model", ""),
    "wrong_output": (
        "import keras\n"
        "def build_model(context):\n"
        "    inputs = context.inputs()\n"
        "    return keras.Model(inputs, keras.layers.Dense(1)(context.preprocess(inputs)))\n",
        "the output has shape (2, 1); a classification model must give (rows, 3) class probabilities", ""),
    "nan_loss": (
        "import keras\n"
        "def build_model(context):\n"
        "    inputs = context.inputs()\n"
        "    model = keras.Model(inputs, context.head(context.preprocess(inputs)))\n"
        "    model.compile(optimizer='adam', loss=lambda y, p: keras.ops.mean(p) * float('nan'))\n"
        "    return model\n",
        "the loss became NaN or infinite", "lower the learning rate"),
    "fit_raises": (
        "from airflow_mlops.runtime.ml.mlp import build_model\n"
        "def fit(model, data, context):\n"
        "    raise RuntimeError('out of ideas')\n",
        "training failed: RuntimeError: out of ideas", "(at broken.py line 3)"),
    "layer_config_mismatch": (
        "import keras\n"
        "@keras.saving.register_keras_serializable(package='broken')\n"
        "class Scale(keras.layers.Layer):\n"
        "    def __init__(self, factor, **kwargs):\n"
        "        super().__init__(**kwargs)\n"
        "        self.factor = factor\n"
        "    def call(self, x):\n"
        "        return x * self.factor\n"
        "    def get_config(self):\n"
        "        return {**super().get_config(), 'scale_factor': self.factor}  # not what __init__ takes\n"
        "def build_model(context):\n"
        "    inputs = context.inputs()\n"
        "    return keras.Model(inputs, context.head(Scale(2.0)(context.preprocess(inputs))))\n",
        "the saved model does not load back", "get_config"),
    "fit_returns_nothing": (
        "from airflow_mlops.runtime.ml.mlp import build_model\n"
        "def fit(model, data, context):\n"
        "    model.fit(data.x_train, data.y_train, epochs=1, verbose=0)\n",
        "fit must return the history, a mapping with a 'loss' list (got NoneType)", ""),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_module_is_a_model_error_naming_it(pipeline, first_run, case):
    source, message, detail = BROKEN[case]
    with pytest.raises(ComponentError) as failed:
        train(pipeline, first_run, train_params("broken.py", source, epochs=2), run_id=f"broken-{case}")
    assert failed.value.kind is ErrorKind.MODEL and not failed.value.kind.retryable
    assert failed.value.message.startswith("training module broken.py: "), failed.value.message
    assert message in failed.value.message and detail in failed.value.message, failed.value.message


def test_a_failure_of_our_own_callbacks_is_not_blamed_on_the_module(pipeline, first_run, monkeypatch):
    """An MLflow or storage hiccup while the module's fit runs stays what it is (retried as an
    infrastructure error by the command line), not a model error."""
    from airflow_mlops.runtime.components import train as train_component

    def unreachable(self, epoch, logs):
        raise ConnectionError("MLflow did not answer")

    monkeypatch.setattr(train_component.TrainingRun, "log_epoch", unreachable)
    with pytest.raises(ConnectionError, match="MLflow did not answer"):
        train(pipeline, first_run, train_params(epochs=2), run_id="mlflow-down")


def test_through_the_command_line_it_is_rejected_with_a_model_error_report(pipeline, first_run):
    """What the control plane sees: exit code 3 and error.json of kind model (no retry)."""
    inputs = {"examples": first_run["ingest"].outputs["examples"], "transform": first_run["transform"].outputs["transform"]}
    spec = pipeline.spec("train", train_params("broken.py", BROKEN["not_a_model"][0], epochs=2), inputs, run_id="broken-cli")
    store = ArtifactStore()
    store.write_text(join_uri(spec.invocation_uri, SPEC_FILE), spec.to_json())
    done = subprocess.run([sys.executable, "-m", "airflow_mlops.runtime.components", "train", "--spec",
                           join_uri(spec.invocation_uri, SPEC_FILE)], capture_output=True, text=True)
    assert done.returncode == EXIT_REJECTED, done.stderr[-2000:]
    report = store.read_json(join_uri(spec.invocation_uri, ERROR_FILE))
    assert report["kind"] == "model" and "build_model returned int" in report["message"]


def test_an_unknown_importable_module_is_a_model_error():
    spec = type("Spec", (), {"params": {"module": "no_such_package.model"}})()
    with pytest.raises(ComponentError) as failed:
        module_fingerprint(spec)
    assert failed.value.kind is ErrorKind.MODEL
    assert "training module no_such_package.model: cannot be found in the runtime environment" in failed.value.message


def test_editing_the_module_retrains(pipeline, first_run, custom):
    again = train(pipeline, first_run, train_params("model.py", PENGUIN_MODULE, epochs=30, hyperparameters={"dropout": 0.05}))
    assert again.cache_hit and again.fingerprint == custom.fingerprint
    edited = PENGUIN_MODULE.replace("[32, 16]", "[32, 12]")
    assert edited != PENGUIN_MODULE
    changed = train(pipeline, first_run, train_params("model.py", edited, epochs=2, hyperparameters={"dropout": 0.05}))
    assert not changed.cache_hit and changed.fingerprint != custom.fingerprint


def test_an_installed_module_is_fingerprinted_by_its_source(tmp_path, monkeypatch):
    package = tmp_path / "team_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "penguin.py").write_text("from airflow_mlops.runtime.ml.mlp import build_model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = type("Spec", (), {"params": {"module": "team_models.penguin"}})()
    before = module_fingerprint(spec)
    assert module_fingerprint(spec) == before
    (package / "penguin.py").write_text("from airflow_mlops.runtime.ml.mlp import build_model  # v2\n")
    second = module_fingerprint(spec)
    assert second != before
    (package / "layers.py").write_text("# a module the model module may import\n")
    assert module_fingerprint(spec) != second
    builtin = type("Spec", (), {"params": {}})()
    assert module_fingerprint(builtin) not in (before, module_fingerprint(spec))
