# Multi-stage build: compile with the Rust toolchain, ship a slim runtime.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin quarry

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/quarry quarry \
    && mkdir -p /var/lib/quarry && chown quarry /var/lib/quarry
COPY --from=build /src/target/release/quarry /usr/local/bin/quarry
USER quarry
ENV QUARRY_DATA_DIR=/var/lib/quarry \
    QUARRY_PG_LISTEN=0.0.0.0:5433 \
    QUARRY_HTTP_LISTEN=0.0.0.0:8433
VOLUME /var/lib/quarry
EXPOSE 5433 8433
# A non-loopback listen needs QUARRY_PASSWORD; the server refuses to start without it.
ENTRYPOINT ["/usr/local/bin/quarry"]
