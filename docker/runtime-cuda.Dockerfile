# The GPU variant of the runtime image: the CPU image (docker/runtime.Dockerfile, built first) plus
# the CUDA 12.3 / cuDNN 8.9 libraries TensorFlow 2.16 was built against, as the pip wheels of its
# `and-cuda` extra (docker/runtime-cuda.lock.txt). The same Debian 12 / Python 3.11 as the CPU
# image, so the lock's manylinux_2_36 wheels fit; the NVIDIA driver comes from the node (GKE GPU
# node pools and Vertex AI mount it under /usr/local/nvidia).
#
#   docker build -f docker/runtime.Dockerfile -t airflow-mlops-runtime .
#   docker build -f docker/runtime-cuda.Dockerfile --build-arg RUNTIME_IMAGE=airflow-mlops-runtime \
#       -t airflow-mlops-runtime-gpu .
ARG RUNTIME_IMAGE=airflow-mlops-runtime

FROM ${RUNTIME_IMAGE}

# Exact pins, no resolution (--no-deps); `uv pip check` verifies they agree with the lock.
USER root
COPY docker/runtime-cuda.lock.txt /tmp/runtime-cuda.lock.txt
RUN uv pip install --no-cache --no-deps -r /tmp/runtime-cuda.lock.txt \
    && uv pip check \
    && rm /tmp/runtime-cuda.lock.txt

# TensorFlow 2.16 does not always find the pip CUDA libraries by itself
# (tensorflow/tensorflow#63362), so they are put on the library path, next to the driver's.
ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cublas/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cuda_cupti/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cudnn/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cufft/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/curand/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cusolver/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cusparse/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/nccl/lib:/opt/mlops/venv/lib/python3.11/site-packages/nvidia/nvjitlink/lib \
    PATH=/opt/mlops/venv/lib/python3.11/site-packages/nvidia/cuda_nvcc/bin:/opt/mlops/venv/bin:/usr/local/nvidia/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 10001

# The runtime image's dispatcher (docker/entrypoint.sh): the component CLI, or Beam's boot launcher
# for the SDK harness's arguments.
ENTRYPOINT ["/opt/mlops/entrypoint"]
CMD ["--help"]
