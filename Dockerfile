# syntax=docker/dockerfile:1
# operator-argo image: the API server (`serve`, the default) and the job steps
# (`operator-argo step configure|publish`) run from this one image.

# The base of both stages: a Python 3.11 Debian image. A build without a registry passes a
# locally made one (--build-arg BASE_IMAGE=...), as the node tests do.
ARG BASE_IMAGE=python:3.11-slim

# --- builder: compile the wheel and install it with its dependencies into a venv
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler only for dependencies that ship no wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator_argo ./operator_argo
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install /wheels/*.whl \
    && pip check

# --- runtime: the venv on a clean slim base, no compilers, a fixed non-root user
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPERATOR_HOST=0.0.0.0 \
    OPERATOR_DATA_DIR=/var/lib/operator-argo
# Debian already has a group called "operator" (gid 37): the image's user has its own name.
RUN groupadd --system --gid 10001 operator-argo \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/operator-argo --create-home \
       --shell /usr/sbin/nologin operator-argo \
    && mkdir -p /var/lib/operator-argo \
    && chown 10001:10001 /var/lib/operator-argo
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/operator-argo
EXPOSE 8050
ENTRYPOINT ["operator-argo"]
CMD ["serve"]
