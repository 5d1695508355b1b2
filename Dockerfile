# syntax=docker/dockerfile:1
# Multi-stage build of the otelcol-agent distribution: a static binary on a
# distroless base, run as a non-root user, with the default configuration.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The components are Go modules of their own, replaced by their directories:
# their go.mod files must be there before the download.
COPY go.mod go.sum ./
COPY internal/go.mod internal/go.sum ./internal/
COPY processor/agentsemconvprocessor/go.mod processor/agentsemconvprocessor/go.sum ./processor/agentsemconvprocessor/
COPY connector/agentmetricsconnector/go.mod connector/agentmetricsconnector/go.sum ./connector/agentmetricsconnector/
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/otelcol-agent ./cmd/otelcol-agent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otelcol-agent /otelcol-agent
# The binary embeds config/default.yaml and runs it when no --config is
# given; its files go to ./data under the working directory.
WORKDIR /home/nonroot
# The default config binds to loopback; inside a container listen on all
# interfaces instead (override with the same variables at `docker run`).
ENV OTELCOL_AGENT_OTLP_GRPC_ENDPOINT=0.0.0.0:4317 \
    OTELCOL_AGENT_OTLP_HTTP_ENDPOINT=0.0.0.0:4318 \
    OTELCOL_AGENT_PROMETHEUS_ENDPOINT=0.0.0.0:8889 \
    OTELCOL_AGENT_HEALTH_ENDPOINT=0.0.0.0:13133
USER 65532:65532
# OTLP gRPC, OTLP HTTP, Prometheus metrics, health check
EXPOSE 4317 4318 8889 13133
ENTRYPOINT ["/otelcol-agent"]
