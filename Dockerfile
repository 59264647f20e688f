# Image of the Youthlink API (and, from the search issue on, its worker).
# The family search widget is built in a Node stage; the image carries only its bundle.
FROM node:20-slim AS widget
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY service/widget/src ./service/widget/src
RUN node_modules/.bin/esbuild service/widget/src/youthlink-search.js --bundle --format=esm \
      --minify --loader:.css=text --target=es2020 --legal-comments=eof \
      --outfile=service/widget/dist/youthlink-search.js

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY --from=widget /build/service/widget/dist ./service/widget/dist
COPY seeds ./seeds
COPY geodata ./geodata
COPY openapi ./openapi
RUN pip install --no-cache-dir . && useradd --system --uid 10001 youthlink
USER youthlink
EXPOSE 8000
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
