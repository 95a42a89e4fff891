FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
ENV ONAIR_DATA_DIR=/data
VOLUME /data
CMD ["onair", "--help"]
