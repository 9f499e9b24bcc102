# syntax=docker/dockerfile:1
# Flagger's load tester with checkly-gate in it (docs/kubernetes/flagger.yaml):
#   docker build -f docs/kubernetes/flagger-tester.Dockerfile -t checkly-gate-tester:0.1.0 .
# The gate needs Python, the load tester is one static Go binary (CGO_ENABLED=0), so the tester
# is copied into the checkly-gate image rather than the other way round; bash is added for the
# tester's blocking `type: bash` tasks.
ARG CHECKLY_GATE_IMAGE=registry.example.com/tools/checkly-gate:0.1.0
ARG LOADTESTER_IMAGE=ghcr.io/fluxcd/flagger-loadtester:0.38.0
FROM ${LOADTESTER_IMAGE} AS loadtester

FROM ${CHECKLY_GATE_IMAGE}
USER root
# hadolint ignore=DL3018
RUN apk add --no-cache bash
COPY --from=loadtester /home/app/loadtester /usr/local/bin/flagger-loadtester
USER 10001:10001
ENTRYPOINT ["flagger-loadtester"]
CMD ["-port=8080", "-log-level=info", "-timeout=10m"]
