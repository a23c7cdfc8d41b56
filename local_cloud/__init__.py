"""A local cloud for tests and demos: "containers" run as local processes of the runtime environment,
behind fakes of the Kubernetes core/v1 API (pods) and of Vertex AI's JobService (CustomJobs) on
127.0.0.1, which the real clients talk real HTTP to.

Test and demo infrastructure only: it is not part of the ``airflow-mlops`` distributions (the
wheel and sdist take ``airflow_mlops`` alone) and uses the standard library only.

- :mod:`local_cloud.containers`: :class:`~local_cloud.containers.ContainerRunner` and its containers;
- :mod:`local_cloud.kubernetes_api`: :class:`~local_cloud.kubernetes_api.FakeKubernetes`;
- :mod:`local_cloud.vertex_api`: :class:`~local_cloud.vertex_api.FakeVertex`;
- :mod:`local_cloud.bigquery_api`: :class:`~local_cloud.bigquery_api.FakeBigQuery` (tables and queries over v2 REST).
"""
