# syntax=docker/dockerfile:1
# tidemark's images (docs/deploy.md). No image is built or pushed from this repository's CI (no registry access):
#   docker build -t REGISTRY/tidemark:0.1.0 .                          python slim + tidemark (DuckDB, PostgreSQL, Delta)
#   docker build --target spark -t REGISTRY/tidemark:0.1.0-spark .     Apache Spark (Java 17) + tidemark, for
#                                                                       spark-submit and the Spark operator
ARG PYTHON_VERSION=3.11
ARG SPARK_IMAGE=spark:4.0.0-scala2.13-java17-python3-ubuntu

FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=wheel /wheels /wheels
RUN pip install "$(ls /wheels/tidemark-*.whl)[postgres,delta]" && rm -rf /wheels \
    && useradd --create-home --uid 10001 tidemark && mkdir /work && chown tidemark /work
USER 10001
WORKDIR /work
ENTRYPOINT ["tidemark"]
CMD ["--help"]

# Spark's own image (spark-submit, Java 17, the operator's entrypoint), tidemark installed into its Python;
# pyspark comes from the Spark distribution, so the spark extra is not installed, only pandas it needs.
FROM ${SPARK_IMAGE} AS spark
USER root
COPY --from=wheel /wheels /wheels
RUN pip3 install --no-cache-dir "$(ls /wheels/tidemark-*.whl)[postgres,delta,pandas]" && rm -rf /wheels \
    && mkdir -p /opt/tidemark /work && chown spark /work
COPY src/tidemark/deploy/spark_main.py /opt/tidemark/main.py
USER spark
WORKDIR /work
