# The Verdict engine: `verdict serve` (stream workers, inline API and /metrics on port 8080).
# Configured only by environment variables VERDICT_<SECTION>__<NAME> (README, "Running on
# Kafka and Redis"). Build: docker build -t verdict:local .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/verdict
ENV PATH=/opt/verdict/bin:$PATH
WORKDIR /src
# The dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
# Every one has a manylinux wheel for CPython 3.11 (numba, river, orjson, hiredis...): no
# compiler is needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY README.md ./
COPY events ./events
COPY state ./state
COPY models ./models
COPY decisions ./decisions
COPY streams ./streams
COPY replay ./replay
COPY verdict ./verdict
COPY benchmarks ./benchmarks
# Not editable: the image holds the package (Lua scripts and the default policy included as
# package data), not a link to /src.
RUN pip install --no-deps .

FROM ${PYTHON_IMAGE}
# A fixed numeric uid, so `runAsNonRoot` style checks (and file ownership on volumes) see
# the same user everywhere.
RUN groupadd --system --gid 10001 verdict \
    && useradd --system --uid 10001 --gid verdict --home-dir /var/lib/verdict --create-home \
        --shell /usr/sbin/nologin verdict
COPY --from=build /opt/verdict /opt/verdict
# VERDICT_API__HOST: inside a container the API must listen beyond loopback to be reachable
# at all; who may reach it is the container network's business (compose publishes the ports
# on 127.0.0.1 only). NUMBA_CACHE_DIR: the kernels are cached on disk (models/jit.py) and the
# installed package is not writable by this user.
ENV PATH=/opt/verdict/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/var/lib/verdict/numba-cache \
    VERDICT_API__HOST=0.0.0.0
WORKDIR /var/lib/verdict
USER 10001:10001
EXPOSE 8080
# /healthz is public even when VERDICT_API__TOKEN is set. The start period covers the numba
# compilation of a first start and the consumer group join.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VERDICT_API__PORT', '8080'), timeout=2)"]
ENTRYPOINT ["verdict"]
CMD ["serve"]
