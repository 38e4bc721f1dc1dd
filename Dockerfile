# syntax=docker/dockerfile:1
# operator-argo image: the API server (`serve`, the default) and the job steps
# (`operator-argo step configure|publish`) run from this one image.

# --- builder: compile the wheel and install it with its dependencies into a venv
FROM python:3.11-slim AS builder
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
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OPERATOR_HOST=0.0.0.0 \
    OPERATOR_DATA_DIR=/var/lib/operator-argo
RUN groupadd --system --gid 10001 operator \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/operator --create-home \
       --shell /usr/sbin/nologin operator \
    && mkdir -p /var/lib/operator-argo \
    && chown 10001:10001 /var/lib/operator-argo
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/operator
EXPOSE 8050
ENTRYPOINT ["operator-argo"]
CMD ["serve"]
