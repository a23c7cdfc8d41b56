"""Runtime-plane helpers shared by the ML components (TensorFlow, TFDV, Beam, MLflow, pandas).

Never import this package from the control plane: it is only imported by components running
in the runtime environment.
"""
