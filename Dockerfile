# ciba-check as a container image, for deploy/'s Kubernetes Jobs:
#
#   docker build -t ghcr.io/ciba-check/ciba-check:latest .
#
# Stage 1 builds a static binary (no cgo, so no libc is needed at run time);
# stage 2 is distroless's static image: CA roots and tzdata, no shell, no
# package manager, running as the non-root user nonroot (uid 65532), the
# user deploy/'s Jobs run as. The ENTRYPOINT is the binary, so a Job's args
# are ciba-check's (load poll ..., load merge ...). The build context keeps
# .git, so the binary is stamped with the commit it was built from and
# `ciba-check version` in the image names it (the run stage copies only
# the binary). `go test ./deploy` checks that this file and deploy/ agree.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=true -o /out/ciba-check ./cmd/ciba-check

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ciba-check /usr/local/bin/ciba-check
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ciba-check"]
