"""CI/CD per environment on Cloud Build: ``cicd/environments.yaml`` says where each environment is,
``python -m cicd render`` writes ``cloudbuild/<environment>.yaml`` (the build) and
``cloudbuild/triggers/<environment>.yaml`` (when it runs), and two of the build's steps are this
package's commands: ``sync`` (the DAGs, pipeline YAMLs and plugins to the Composer bucket) and
``load-test`` (the model API's QPS and latency against bounds). Stdlib, the artifact contract's
typed records, and google-cloud-storage for ``sync``."""
