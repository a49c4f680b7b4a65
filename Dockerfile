# The shoal command in a small image: `docker run shoal inspect /data/movies.snapshot`.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# What the daemons write (a filesystem store, the write-ahead log) lives under /var/lib/shoal,
# owned by the user they run as: a fresh named volume mounted at data/ or wal/ starts with this
# ownership (deploy/compose), and relative defaults (./shoal-data, .shoal/wal) land somewhere
# writable. Kubernetes volumes get it from fsGroup instead (deploy/kubernetes).
RUN mkdir -p /var/lib/shoal/data /var/lib/shoal/wal && chown -R node:node /var/lib/shoal
WORKDIR /var/lib/shoal
USER node
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
