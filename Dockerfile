# Multi-stage build: compile with the Rust toolchain, ship a slim runtime.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, built against stub sources: this layer is reused until
# a manifest or Cargo.lock changes, so a source edit rebuilds only Quarry's
# two crates. Cargo loads the workspace only when every member manifest and
# every target a manifest names exists, hence the stubs.
COPY Cargo.toml Cargo.lock ./
COPY udfs/Cargo.toml udfs/Cargo.toml
COPY tests/macros/Cargo.toml tests/macros/Cargo.toml
RUN mkdir -p src udfs/src tests/macros/src tests/quarry benches \
    && for f in src/main.rs tests/quarry/main.rs benches/wire.rs; do echo 'fn main() {}' > "$f"; done \
    && for f in src/lib.rs udfs/src/lib.rs tests/macros/src/lib.rs; do : > "$f"; done \
    && cargo build --release --locked --bin quarry \
    && cargo clean --release --locked -p quarry -p quarry-udfs

# The real sources. The stubs' artifacts were removed above: COPY keeps the
# files' own modification times, which can be older than the stub build, and
# cargo would then take the stub binary for up to date.
COPY . .
RUN cargo build --release --locked --bin quarry

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
