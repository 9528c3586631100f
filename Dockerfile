# syntax=docker/dockerfile:1
#
# The exporter's container image: a Debian builder and a distroless runtime with no shell, no
# package manager and a non-root user.
#
#   docker build -t secrets-rotation-exporter:0.1.0 .
#   docker run --rm -p 9897:9897 \
#     -v "$PWD/config.yaml:/etc/secrets-rotation-exporter/config.yaml:ro" \
#     secrets-rotation-exporter:0.1.0
#
# docs/deploy.md has the details (multi-arch builds, Kubernetes, what is tested).

# The builder and the runtime are both Debian 12 (bookworm), so the binary links against the same
# glibc it runs on. `1-` follows the newest stable Rust 1.x; the crates use edition 2024, which
# needs Rust 1.85 or newer.
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
# --locked: the image is built from exactly the dependency versions of Cargo.lock.
# The cache mounts keep downloaded crates and compiled dependencies between builds; the binary is
# copied out of the cached target directory in the same step, since the cache is not in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin secrets-rotation-exporter \
    && install -D -m 0755 target/release/secrets-rotation-exporter /out/secrets-rotation-exporter

# distroless/cc: glibc, libgcc_s (which Rust's unwinder needs), CA certificates and /etc/passwd,
# nothing else. `nonroot` runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="secrets-rotation-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Secrets Manager rotation across many AWS accounts" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/secrets-rotation-exporter/secrets-rotation-exporter" \
      org.opencontainers.image.documentation="https://github.com/secrets-rotation-exporter/secrets-rotation-exporter/blob/main/docs/deploy.md" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=build /out/secrets-rotation-exporter /secrets-rotation-exporter

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
EXPOSE 9897
ENTRYPOINT ["/secrets-rotation-exporter"]
# Mount the config here (a ConfigMap in Kubernetes, a bind mount with docker run). The exporter
# writes no file, so the root file system can be read-only.
CMD ["serve", "--config.file=/etc/secrets-rotation-exporter/config.yaml", "--web.listen-address=0.0.0.0:9897"]
