# onair as a release installs it: the wheel (with the migrations inside, as worker.migrations), not
# the source tree, run by an unprivileged user. docs/operations.md describes the image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY worker ./worker
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
COPY --from=build /dist /dist
RUN pip install --no-cache-dir /dist/*.whl \
    && rm -rf /dist \
    && useradd --uid 10001 --user-group --create-home onair \
    && mkdir /data \
    && chown onair:onair /data
ENV ONAIR_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/onair
VOLUME /data
CMD ["onair", "--help"]
