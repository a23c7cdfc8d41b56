"""The fake Kubernetes API, driven by the real clients over real HTTP: ``kubernetes`` (sync),
``kubernetes_asyncio`` and the cncf-kubernetes provider's KubernetesHook."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from local_cloud.kubernetes_api import EVICTION_MESSAGE, SHUTDOWN_MESSAGE

IMAGE = "europe-docker.pkg.dev/local/mlops/runtime:dev"


@pytest.fixture
def kubeconfig(fake_kubernetes, tmp_path):
    return fake_kubernetes.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def core(kubeconfig) -> client.CoreV1Api:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def pod_body(name: str, command: list[str] | None = None, args: list[str] | None = None, image: str = IMAGE,
             env: list[dict] | None = None, labels: dict | None = None) -> dict:
    container = {"name": "base", "image": image}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    if env is not None:
        container["env"] = env
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ml", "labels": labels or {"app": "test"}},
            "spec": {"restartPolicy": "Never", "containers": [container]}}


def wait_phase(core: client.CoreV1Api, name: str, phases: tuple[str, ...] = ("Succeeded", "Failed"),
               timeout: float = 30) -> client.V1Pod:
    deadline = time.monotonic() + timeout
    while True:
        pod = core.read_namespaced_pod(name, "ml")
        if pod.status.phase in phases:
            return pod
        assert time.monotonic() < deadline, f"{name} still {pod.status.phase}"
        time.sleep(0.1)


def log(core: client.CoreV1Api, name: str, **kwargs) -> str:
    """The pod's log as text. (The sync client's plain call returns ``str(bytes)`` for text/plain on
    kubernetes 35+ - a real API server answers the same - so the raw response is read, as the
    cncf-kubernetes provider does.)"""
    return core.read_namespaced_pod_log(name, "ml", _preload_content=False, **kwargs).data.decode()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie not yet reaped counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def test_pod_runs_to_success_and_its_log_is_readable(fake_kubernetes, core):
    body = pod_body("hello", ["python", "-c", "print('hi'); print('there')"])
    created = core.create_namespaced_pod("ml", body)

    assert created.status.phase == "Pending"
    assert fake_kubernetes.created_pods() == [body]
    (post,) = [r for r in fake_kubernetes.requests if r["method"] == "POST"]
    assert post == {"method": "POST", "path": "/api/v1/namespaces/ml/pods", "query": {}, "body": body}

    pod = wait_phase(core, "hello")
    assert pod.status.phase == "Succeeded"
    state = pod.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (0, "Completed")
    assert pod.status.start_time is not None and pod.spec.node_name
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
    assert core.read_namespaced_pod_status("hello", "ml").status.phase == "Succeeded"

    assert log(core, "hello", container="base") == "hi\nthere\n"
    assert log(core, "hello", tail_lines=1) == "there\n"
    stamped = log(core, "hello", timestamps=True).splitlines()
    assert stamped[0].endswith("Z hi") and stamped[0][:4].isdigit()
    streamed = core.read_namespaced_pod_log("hello", "ml", follow=True, _preload_content=False)
    assert b"".join(streamed.stream()) == b"hi\nthere\n"
    reasons = [e.reason for e in core.list_namespaced_event("ml", field_selector="involvedObject.name=hello").items]
    assert reasons[:1] == ["Scheduled"] and "Started" in reasons


def test_follow_streams_while_the_container_runs(fake_kubernetes, core):
    script = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.3)"
    core.create_namespaced_pod("ml", pod_body("ticker", ["python", "-c", script]))
    wait_phase(core, "ticker", ("Running", "Succeeded"))
    response = core.read_namespaced_pod_log("ticker", "ml", follow=True, _preload_content=False)
    assert b"".join(response.stream()).split() == [b"0", b"1", b"2"]
    assert core.read_namespaced_pod("ticker", "ml").status.phase == "Succeeded"


def test_failing_command_fails_the_pod_with_its_exit_code(fake_kubernetes, core):
    core.create_namespaced_pod("ml", pod_body("boom", ["python", "-c", "import sys; print('bad'); sys.exit(3)"]))
    pod = wait_phase(core, "boom")
    assert pod.status.phase == "Failed"
    state = pod.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (3, "Error")
    assert log(core, "boom") == "bad\n"


def test_env_with_field_refs_reaches_the_process(fake_kubernetes, core):
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
    ]
    script = ("import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in "
              "['GREETING', 'POD_NAME', 'POD_NAMESPACE', 'NODE', 'SA', 'HOSTNAME', 'PYTHONUNBUFFERED']}));"
              "print(sys.argv[1:]); print(os.getcwd())")
    core.create_namespaced_pod("ml", pod_body("envy", ["python", "-c", script], ["$(GREETING)-world"], env=env))
    pod = wait_phase(core, "envy")
    assert pod.status.phase == "Succeeded", log(core, "envy")
    seen, argv, cwd = log(core, "envy").splitlines()
    assert json.loads(seen) == {"GREETING": "hello", "POD_NAME": "envy", "POD_NAMESPACE": "ml",
                                "NODE": pod.spec.node_name, "SA": "default", "HOSTNAME": "envy",
                                "PYTHONUNBUFFERED": "1"}
    assert argv == "['hello-world']"
    assert cwd.startswith(str(fake_kubernetes.runner.workdir_root))


def test_unknown_image_backs_off_and_never_starts(fake_kubernetes, core):
    image = "europe-docker.pkg.dev/local/mlops/nope:1"
    core.create_namespaced_pod("ml", pod_body("nopull", ["python", "-c", "print(1)"], image=image))

    def waiting_reason():
        statuses = core.read_namespaced_pod("nopull", "ml").status.container_statuses
        return statuses and statuses[0].state.waiting and statuses[0].state.waiting.reason

    assert fake_kubernetes.wait_for(lambda: waiting_reason() == "ErrImagePull", 10)
    assert fake_kubernetes.wait_for(lambda: waiting_reason() == "ImagePullBackOff", 10)
    pod = core.read_namespaced_pod("nopull", "ml")
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.message == f'Back-off pulling image "{image}"'
    with pytest.raises(ApiException) as err:
        log(core, "nopull")
    assert err.value.status == 400 and "is waiting to start" in json.loads(err.value.body)["message"]
    assert fake_kubernetes.runner.containers == []


SLEEPER = ["python", "-c", "import time; print('up', flush=True); time.sleep(30)"]


def test_oom_killed(fake_kubernetes, core):
    fake_kubernetes.inject("oom_killed", match="time.sleep(30)")
    core.create_namespaced_pod("ml", pod_body("oom", SLEEPER))
    pod = wait_phase(core, "oom", timeout=15)
    assert pod.status.phase == "Failed"
    state = pod.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (137, "OOMKilled")


def test_evicted(fake_kubernetes, core):
    fake_kubernetes.inject("evicted")
    core.create_namespaced_pod("ml", pod_body("evict", SLEEPER))
    pod = wait_phase(core, "evict", timeout=15)
    assert (pod.status.phase, pod.status.reason) == ("Failed", "Evicted")
    assert pod.status.message == EVICTION_MESSAGE.format(container="base")
    assert pod.status.message.startswith("The node was low on resource: memory.")
    assert not pid_alive(fake_kubernetes.pod("evict", "ml").container.pid)


def test_preempted_by_node_shutdown(fake_kubernetes, core):
    fake_kubernetes.inject("preempted", match="nomatch")  # not this pod
    fake_kubernetes.inject("preempted", match="sleep")
    core.create_namespaced_pod("ml", pod_body("spot", SLEEPER))
    pod = wait_phase(core, "spot", timeout=15)
    assert (pod.status.phase, pod.status.reason, pod.status.message) == ("Failed", "Terminated", SHUTDOWN_MESSAGE)
    (disruption,) = [c for c in pod.status.conditions if c.type == "DisruptionTarget"]
    assert (disruption.status, disruption.reason) == ("True", "TerminationByKubelet")
    state = pod.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (137, "Error")
    assert fake_kubernetes.faults.waiting == [("preempted", "nomatch")]


def test_delete_kills_a_held_pod(fake_kubernetes, core):
    fake_kubernetes.inject("hold")
    body = pod_body("held", ["python", "-c", "print('never runs')"], labels={"app": "x", "try": "1"})
    core.create_namespaced_pod("ml", body)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("ml", body)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"
    wait_phase(core, "held", ("Running",))
    time.sleep(0.5)
    assert core.read_namespaced_pod("held", "ml").status.phase == "Running"
    assert [p.metadata.name for p in core.list_namespaced_pod("ml", label_selector="app=x,try=1").items] == ["held"]
    assert core.list_namespaced_pod("ml", label_selector="app=x,try!=1").items == []
    assert [p.metadata.name for p in core.list_namespaced_pod("ml", label_selector="app,!gone").items] == ["held"]
    pid = fake_kubernetes.pod("held", "ml").container.pid
    assert pid_alive(pid)

    deleted = core.delete_namespaced_pod("held", "ml", body=client.V1DeleteOptions())
    assert deleted.metadata.deletion_timestamp is not None
    assert fake_kubernetes.deleted_pods() == ["held"]
    assert not pid_alive(pid)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("held", "ml")
    status = json.loads(err.value.body)
    assert (err.value.status, status["kind"], status["reason"]) == (404, "Status", "NotFound")
    assert status["message"] == 'pods "held" not found'
    assert fake_kubernetes.requests[-1] == {"method": "GET", "path": "/api/v1/namespaces/ml/pods/held",
                                            "query": {}, "body": None}


def test_kubernetes_asyncio_client(fake_kubernetes, kubeconfig):
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig

    async def run() -> tuple[str, str, str]:
        api_client = await aconfig.new_client_from_config(config_file=str(kubeconfig))
        async with api_client:
            core = aclient.CoreV1Api(api_client)
            await core.create_namespaced_pod("ml", pod_body("async", ["python", "-c", "print('from async')"]))
            while (pod := await core.read_namespaced_pod("async", "ml")).status.phase not in ("Succeeded", "Failed"):
                await asyncio.sleep(0.1)
            text = await core.read_namespaced_pod_log("async", "ml", container="base")
            raw = await core.read_namespaced_pod_log("async", "ml", follow=True, _preload_content=False)
            streamed = (await raw.read()).decode()
            return pod.status.phase, text, streamed

    assert asyncio.run(run()) == ("Succeeded", "from async\n", "from async\n")


def test_kubernetes_hook_with_the_kubeconfig(fake_kubernetes, kubeconfig, monkeypatch, core):
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_K8S", json.dumps(
        {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}))
    core.create_namespaced_pod("ml", pod_body("hooked", ["python", "-c", "print('hooked')"]))
    hook = KubernetesHook(conn_id="local_k8s")
    assert hook.core_v1_client.read_namespaced_pod("hooked", "ml").metadata.name == "hooked"
    wait_phase(core, "hooked")
    assert hook.core_v1_client.read_namespaced_pod_log("hooked", "ml", _preload_content=False).data == b"hooked\n"


def test_requests_need_the_kubeconfig_token_and_unknown_paths_are_404(fake_kubernetes):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(fake_kubernetes.url + "/api/v1/namespaces/ml/pods")
    assert err.value.code == 401
    request = urllib.request.Request(fake_kubernetes.url + "/api/v1/nodes",
                                     headers={"Authorization": f"Bearer {fake_kubernetes.token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    status = json.loads(err.value.read())
    assert (err.value.code, status["kind"], status["reason"]) == (404, "Status", "NotFound")
