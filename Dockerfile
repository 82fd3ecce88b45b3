# Strata collector image.
#
#   docker build -t strata:0.1.0 .
#
# Kubernetes entry point (deploy/): the default command is `strata operator`, which watches the
# Collector and Discovery resources; deploy/deployment.yaml passes its flags.
#   docker run strata:0.1.0                       # = strata operator (needs a cluster)
# Standalone, as in the quick start: override the command.
#   docker run -p 9464:9464 strata:0.1.0 run -f examples/quickstart.yaml --telemetry-host 0.0.0.0 --demo-target 9101
#
# Two stages: `build` installs every dependency and compiles TypeScript; the runtime stage
# installs production dependencies only (`npm ci --omit=dev`) and copies the compiled output,
# so no compiler, test tool or source file is in the image. It runs as the unprivileged `node`
# user (uid 1000) and writes nothing outside /tmp, so it runs with a read-only root filesystem.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the compiler, which is not installed here.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
USER 1000:1000
# 9464: /metrics, /healthz, /readyz, /status. 9443: admission webhooks (operator).
EXPOSE 9464 9443
ENTRYPOINT ["node", "bin/strata.js"]
CMD ["operator"]
