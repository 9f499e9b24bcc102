# syntax=docker/dockerfile:1
# checkly-gate as a container image, for any pipeline:
#   docker build -t checkly-gate:0.1.0 .
#   mkdir -p reports
#   docker run --rm --user "$(id -u):$(id -g)" -e CHECKLY_API_KEY -e CHECKLY_ACCOUNT_ID \
#     -v "$PWD/reports:/reports" checkly-gate:0.1.0 wait "$SESSION_ID" --junit checkly-junit.xml
# (--user: the container writes as the owner of ./reports; any uid works, none needs a passwd
# entry. Without it the image's user 10001 writes, which needs a folder it may write to.)
# As a GitLab `image:`, set `entrypoint: [""]` (see docs/recipes.md, "Container image").
#
# Alpine, not Debian slim: python:3.13-slim alone is ~125 MB uncompressed, the Alpine variant
# ~47 MB, and every dependency ships a musl wheel, so no compiler is needed in either stage.
# tests/test_packaging.py runs the two `pip` lines below in throwaway virtual environments.
ARG PYTHON_IMAGE=python:3.13.9-alpine3.22

# --- build: the checkly-gate wheel plus the hash-checked wheels of its dependencies ---------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE requirements.lock ./
COPY src/ src/
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels . \
 && python -m pip download --no-cache-dir --disable-pip-version-check --require-hashes --only-binary=:all: --dest /wheels -r requirements.lock

# --- final: the interpreter, those wheels installed, nothing else ----------------------------
FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="checkly-gate" \
      org.opencontainers.image.description="Wait for a Checkly test session and exit with a documented code; writes JUnit XML, a markdown summary and a dotenv report." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/checkly-gate/checkly-gate" \
      org.opencontainers.image.documentation="https://github.com/checkly-gate/checkly-gate#readme" \
      org.opencontainers.image.base.name="docker.io/library/${PYTHON_IMAGE}"

# /reports is writable by any uid (sticky, like /tmp), so `docker run --user ...` works with
# or without a volume on it.
RUN addgroup -S -g 10001 checkly \
 && adduser -S -D -H -u 10001 -G checkly -h /reports -s /sbin/nologin checkly \
 && mkdir -p /reports \
 && chown 10001:10001 /reports \
 && chmod 1777 /reports

# The wheels are bind-mounted from the build stage, so they never become a layer of this image;
# the dependencies are installed from the lock (hashes checked again), checkly-gate without any.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements.lock,target=/requirements.lock \
    python -m pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /wheels --require-hashes -r /requirements.lock \
 && python -m pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /wheels/checkly_gate-${VERSION}-py3-none-any.whl

# PYTHONSAFEPATH: `python -m`/`-c` in a job using this image never import from the checkout.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Reports land here; mount a folder on it (docker run --user "$(id -u):$(id -g)" -v "$PWD/reports:/reports" ...).
WORKDIR /reports
USER 10001:10001
ENTRYPOINT ["checkly-gate"]
CMD ["--help"]
