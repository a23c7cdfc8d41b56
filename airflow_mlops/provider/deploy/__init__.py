"""Cloud deployment targets of the model rollout (control plane): Vertex AI endpoints and Cloud Run.

Google libraries are imported inside the functions, so importing this package stays light.
"""
