# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are cooked in their own layer (cargo-chef), so
# a change to the service's code rebuilds only the service.

FROM rust:1.95-slim-bookworm AS chef
# webauthn-rs (passkeys) builds against OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --package app --bin codezest-auth --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package app --bin codezest-auth

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 codezest \
 && useradd --system --uid 10001 --gid codezest --no-create-home --shell /usr/sbin/nologin codezest
COPY --from=builder /src/target/release/codezest-auth /usr/local/bin/codezest-auth
USER 10001:10001
ENV BIND_ADDR=0.0.0.0:3001 \
    METRICS_ADDR=0.0.0.0:9464 \
    LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 3001 9464
STOPSIGNAL SIGTERM
ENTRYPOINT ["codezest-auth"]
CMD ["serve"]
