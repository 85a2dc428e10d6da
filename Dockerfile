# Siamese Gallery service image: CUDA runtime + the `gpu` extra (onnxruntime-gpu, faiss-gpu); runs on CPU without a GPU.
# The `postgres` extra (psycopg with its own libpq) too, so the same image serves galleries from SQLite or, with
# SG_DATABASE_URL, as one of several replicas on PostgreSQL (docker-compose.yml's `replicas` profile).
# Build: docker build -t siamese-gallery .   Run: docker compose up (see docker-compose.yml)
# CUDA 13 and cuDNN 9: what onnxruntime-gpu 1.31's CUDA provider links (libcudart.so.13, libcublas.so.13,
# cuDNN 9). faiss-gpu 1.15.1 is built for CUDA 12 and brings its own CUDA 12 runtime and cuBLAS wheels, which
# it loads itself; the host's driver (580 or newer for CUDA 13) runs both.
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

ARG DEBIAN_FRONTEND=noninteractive
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python 3.11 (the project's one minor version) from the deadsnakes PPA, and curl for the health check.
# Distribution package versions move with security updates, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv curl ca-certificates \
    && apt-get purge -y software-properties-common gpg-agent \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv "$VIRTUAL_ENV"

WORKDIR /srv/siamese-gallery

# Dependencies in their own layer, from pyproject.toml and empty stub packages, so code edits reuse it.
# The version ranges live in pyproject.toml.
COPY pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir -p app gallery modelcard \
    && touch app/__init__.py gallery/__init__.py modelcard/__init__.py \
    && pip install ".[gpu,postgres]" \
    && pip uninstall -y siamese-gallery \
    && rm -rf app gallery modelcard build ./*.egg-info

COPY modelcard ./modelcard
COPY gallery ./gallery
COPY app ./app
RUN pip install --no-deps . && rm -rf build ./*.egg-info

RUN groupadd --system --gid 10001 sg \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/sg sg \
    && mkdir -p /data /models \
    && chown 10001:10001 /data
COPY --chown=root:root models /models

ENV SG_HOST=0.0.0.0 \
    SG_PORT=8000 \
    SG_DATA_DIR=/data \
    SG_MODELS_DIR=/models \
    SG_DEVICE=auto

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/bin/bash", "-c", "curl -fsS http://127.0.0.1:${SG_PORT}/health || exit 1"]

CMD ["python", "-m", "app"]
