# Strata collector image. Build: docker build -t strata .   Run: docker run strata run -f /etc/strata/resources.yaml
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
USER node
EXPOSE 9464
ENTRYPOINT ["node", "bin/strata.js"]
CMD ["run", "-f", "examples/quickstart.yaml", "--telemetry-host", "0.0.0.0", "--demo-target", "9101"]
