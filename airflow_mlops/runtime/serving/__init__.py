"""Serving: the BentoML prediction service, prediction logging and the deployment record.

The service (``service.py``) and everything that loads models run in the runtime environment;
``config`` and ``record`` are stdlib-only so the control plane can use them.
"""
