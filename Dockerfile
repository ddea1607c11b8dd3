# livebatch as a container image: the static musl binary on a distroless base, running as a
# non-root user. Multi-stage: the build stage compiles from this checkout (with the lockfile), the
# final image holds only the binary and CA certificates (distroless/static ships them), no shell.
#
#   docker build -t livebatch .
#   docker run --rm -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET \
#     -v "$PWD:/work" -w /work livebatch plan manifests/rollout.yaml
#
# The release workflow (.github/workflows/release.yml) builds it natively for linux/amd64 and
# linux/arm64 and publishes both under one tag.

# Alpine's Rust targets musl natively, so the binary is static with no cross toolchain.
FROM rust:1-alpine AS build
# aws-lc-sys (TLS) is C: a compiler, headers and make.
RUN apk add --no-cache musl-dev build-base cmake perl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin livebatch \
    && strip target/release/livebatch \
    && target/release/livebatch --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/livebatch /usr/local/bin/livebatch
USER nonroot:nonroot
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/livebatch"]
CMD ["--help"]
